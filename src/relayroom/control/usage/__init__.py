"""Usage metering: minutes of audio and of video by resolution tier, per application, room and user."""
