"""srtp."""
