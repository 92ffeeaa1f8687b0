"""One HTTP port: metrics, probes, authenticated webhooks, the JSON API."""
