"""DummySite operator: each DummySite becomes a Service serving a copy of its web page."""
