"""GitHub's REST API at HOSTNAME/api/v3: a thin face over the packages service and the webhooks."""
