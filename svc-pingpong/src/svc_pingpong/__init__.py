"""Ping-pong: answers `pong N` from a counter every replica shares through the database."""
