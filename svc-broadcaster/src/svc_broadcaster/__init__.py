"""Todo events to chat messages, delivered exactly once across any number of replicas."""
