"""Configuration, security and metrics: what every other module of the service reads."""
