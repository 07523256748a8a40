"""Edges every service shares: settings, logging, telemetry, NATS, database and the HTTP shell."""
