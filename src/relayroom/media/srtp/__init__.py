"""SRTP/SRTCP contexts (pylibsrtp) with a rewrite-and-protect fast path."""
