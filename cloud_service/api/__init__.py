"""The HTTP API: shared dependencies and one router per resource."""
