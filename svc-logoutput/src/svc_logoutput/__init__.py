"""Log output: a heartbeat in the logs and a page gathering config, pongs and a greeting."""
