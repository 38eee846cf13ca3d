"""Encryption at rest (envelope keys) and the deployment's signing key."""
