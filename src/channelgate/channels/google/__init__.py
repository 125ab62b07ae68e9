"""What Google Business Messages (GBM) and RCS for Business (RBM) share: Google's agent-message model.

Both products describe a message the same way, sign their webhooks the same way, and take OAuth2 tokens
minted from a service-account key. Those parts live here once, one idea per module:

* ``webhook``: the ``clientToken``/``secret`` handshake and ``X-Goog-Signature``.
* ``render``: :class:`AgentRenderer`, the toolkit renderer for the agent-message model; each channel's
  subclass overrides only where its product differs.
* ``credentials``: the service-account key, loaded and checked.
* ``token``: :class:`ServiceAccountToken`, the toolkit's SharedToken minted by the JWT-bearer exchange.
* ``errors``: Google's error names as an ErrorTable and the one reader of its wait hints.
* ``api``: :class:`GoogleAPI`, calls through the toolkit's PlatformAPI with the bearer token.
* ``fields``: small readers of webhook fields and writers of ids.
"""

from channelgate.channels.google.webhook import SIGNATURE_HEADER, sign

__all__ = ["SIGNATURE_HEADER", "sign"]
