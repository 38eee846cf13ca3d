"""Media data plane: worker processes that relay WebRTC RTP between room members without decoding.

The control plane uses :class:`relayroom.media.service.MediaService` only; everything else runs inside
worker processes (``python -m relayroom.media.worker``) reached through :mod:`relayroom.media.channel`.

Hot path (worker): datagram -> demux by 5-tuple (STUN by ufrag, first byte 0..3) -> SRTP unprotect ->
route by SSRC to a Producer -> for each Consumer rewrite PT/seq/ts/SSRC + SRTP protect in one step ->
send (UDP GSO batches per address). Media is never written anywhere; workers run without core dumps.
"""
