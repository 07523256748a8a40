"""Offline checks of the deployment manifests: rendering, schemas, policy, rules, NATS config."""
