"""ICE-lite: STUN Binding responses on the worker's shared port."""
