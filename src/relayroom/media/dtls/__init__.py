"""dtls."""
