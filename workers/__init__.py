"""RQ entry points: tiny adapters that build the app once per process and call dsr services."""
