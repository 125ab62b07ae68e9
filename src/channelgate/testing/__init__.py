"""Helpers for testing bots and channels: platform simulators that speak the real wire formats, and a
loopback server runner. Usable by channelgate's own tests and by bot developers."""
