"""What Messenger and WhatsApp share, because Meta built both on the same webhook and Graph API machinery.

* :mod:`.config`: the settings both have (verify token, app secret, API base URL), checked the same way.
* :mod:`.webhook`: the ``hub.*`` verification handshake and ``X-Hub-Signature-256`` over the raw body.
* :mod:`.graph`: Graph API calls through the toolkit's :class:`PlatformAPI`, Graph's error codes as an
  :class:`ErrorTable`, and the ``Retry-After`` / ``X-Business-Use-Case-Usage`` hint.
* :mod:`.channel`: :class:`MetaChannel`, the inbound half both channels share (handshake, signature,
  webhook envelope).
* :mod:`.render`: the 24-hour window's length and the text split both renderers use.

Tokens are sent in the ``Authorization: Bearer`` header, never in the URL, so that they cannot leak through
access logs or httpx's request logging; error reasons are scrubbed of them as a second line of defence.
"""

from channelgate.channels.meta.channel import MetaChannel
from channelgate.channels.meta.webhook import SIGNATURE_HEADER, obj, sign

# what code outside the Meta channels uses (the simulator, the benchmarks, the fuzz and soak tests)
__all__ = ["SIGNATURE_HEADER", "MetaChannel", "obj", "sign"]
