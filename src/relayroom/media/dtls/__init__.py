"""DTLS-SRTP handshake over memory BIOs (pyOpenSSL)."""
