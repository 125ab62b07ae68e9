"""Language switching inside a conversation: the language command, the bot's choice, detection.

The pipeline asks :meth:`Languages.decide` before each turn. A decision may answer the user itself (the
language menu), change the conversation's locale, and replace what the bot receives (a
``locale_changed`` event) or skip the bot entirely.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from channelgate.messages import UniversalMessage
from channelgate.turns import Input

if TYPE_CHECKING:
    from channelgate.config import Integration


@dataclass
class LanguageDecision:
    #: what the gateway says itself before the bot's reply (the menu, a confirmation)
    messages: list[UniversalMessage] = field(default_factory=list)
    #: the conversation's new locale, if it changes
    locale: str | None = None
    #: what the bot receives instead of the user's input; None means the bot is not called
    bot_input: Input | None = None


class Languages:
    def decide(
        self, integration: Integration | None, input: Input, current: str, supported: list[str]
    ) -> LanguageDecision | None:
        """None: an ordinary turn. Otherwise what to do instead (see LanguageDecision)."""
        return None
