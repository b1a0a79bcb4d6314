"""Webhooks: repository and organization hooks, `package` events recorded as deliveries on the
request path, delivered by the scheduler with retries (see `delivery`)."""
