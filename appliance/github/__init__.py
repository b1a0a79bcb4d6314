"""GitHub's JSON shapes and URLs for the appliance's objects: what the REST API, GraphQL and webhook
payloads share, so a user or a repository looks the same in each."""
