"""The old home of the Google channels' shared parts, now ``channelgate.channels.google``.

Kept only because code outside the Google channels imports ``sign`` from here (the console's test send and
the fuzz harness); import from ``channelgate.channels.google`` instead.
"""

from channelgate.channels.google.webhook import SIGNATURE_HEADER, sign

__all__ = ["SIGNATURE_HEADER", "sign"]
