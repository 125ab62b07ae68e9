"""How the workers find what is live now: a channel, an integration, the locales a conversation may use.

The turn runner and the delivery worker get these as callables instead of the gateway itself: they need to
see an integration replaced or removed at once (the gateway's table is the one source), and nothing else of
the gateway. A test can hand them a dict's ``get``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from channelgate.channels.base import Channel
from channelgate.config import Integration

#: the running channel of ``(channel, label)``, None when it is not (or no longer) configured
ChannelLookup = Callable[[str, str], Channel[Any] | None]
#: the integration's settings of ``(channel, label)``, None when it is not (or no longer) configured
IntegrationLookup = Callable[[str, str], Integration | None]
#: the locales a conversation on this channel may use, its default first when the bot does not name it
LocalesFor = Callable[[Channel[Any]], list[str]]

__all__ = ["ChannelLookup", "IntegrationLookup", "LocalesFor"]
