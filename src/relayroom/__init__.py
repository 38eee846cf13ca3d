"""RelayRoom: self-hosted real-time audio/video, compatible with Tencent TRTC where public specs exist."""

__version__ = "0.1.0"
