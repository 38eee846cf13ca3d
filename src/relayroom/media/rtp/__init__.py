"""Raw RTP/RTCP helpers for the hot path: header rewrite, sequence math, NACK ring, RTCP."""
