"""TRTC-compatible server API (Tencent Cloud API 3.0, service trtc, version 2019-07-22) on POST /."""
