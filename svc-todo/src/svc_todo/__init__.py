"""Todo service: REST API, HTMX page, hourly image and a transactional outbox to JetStream."""
