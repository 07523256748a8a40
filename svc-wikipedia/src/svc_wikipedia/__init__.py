"""svc-wikipedia: turns a random Wikipedia article into a "Read <url>" todo command."""
