"""The channel on the toolkit: what authenticate opened is used by every later step (no second decryption),
WeChat's answers are classified by its ErrorTable with the toolkit's one Retry-After parser, and the
renderer is the toolkit's Renderer."""

from __future__ import annotations

import httpx
import pytest

from channelgate.channels.base import (
    InvalidCredentials,
    Outbound,
    Rejected,
    Throttled,
    Unavailable,
    Verified,
    WindowClosed,
)
from channelgate.channels.renderer import Renderer
from channelgate.channels.wechat import api
from channelgate.channels.wechat.callback import Callback
from channelgate.channels.wechat.crypto import MessageCrypto
from channelgate.channels.wechat.render import WeChatRenderer
from channelgate.turns import TextInput

from .helpers import make_channel
from .test_inbound import SIM, signed


async def test_a_safe_mode_callback_is_decrypted_once(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    real_open = MessageCrypto.open

    def counting_open(self: MessageCrypto, *args: str | None) -> bytes:
        opened.append("open")
        return real_open(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(MessageCrypto, "open", counting_open)
    channel = make_channel("safe")
    request = signed(SIM.text_message("oUser1", "hi"), "safe")
    verified = channel.authenticate(request)
    assert isinstance(verified.content, Callback) and verified.content.encrypted
    await channel.check_replay(request, verified)
    (event,) = channel.parse(request, verified)
    assert event.input == TextInput(text="hi")
    reply = Outbound(body={"touser": "oUser1", "msgtype": "text", "text": {"content": "hello"}})
    answer, used = channel.passive_reply(request, [reply])
    assert used == 1 and "<Encrypt>" in str(answer.body)
    assert opened == ["open"]


def test_parse_refuses_what_authenticate_did_not_return() -> None:
    channel = make_channel("plaintext")
    request = signed(SIM.text_message("oUser1", "hi"))
    with pytest.raises(TypeError, match="authenticate"):
        channel.parse(request, Verified(request.body))


def answer(status: int = 200, json: object = None, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=json if json is not None else {"errcode": 0}, headers=headers)


@pytest.mark.parametrize(
    ("response", "kind", "code"),
    [
        (answer(429, {}, {"retry-after": "7"}), Throttled, 429),
        (answer(503, {}), Unavailable, 503),
        (answer(401, {}), Rejected, 401),
        (answer(json={"errcode": 45009, "errmsg": "reach max api daily quota limit"}), Throttled, 45009),
        (answer(json={"errcode": 45015, "errmsg": "response out of time limit"}), WindowClosed, 45015),
        (answer(json={"errcode": 40164, "errmsg": "invalid ip"}), InvalidCredentials, 40164),
        (answer(json={"errcode": 40003, "errmsg": "invalid openid"}), Rejected, 40003),
    ],
)
def test_answers_are_classified_by_the_error_table(
    response: httpx.Response, kind: type[Exception], code: int
) -> None:
    error = api.check(response)
    assert type(error) is kind and error is not None and error.code == code


def test_retry_after_comes_from_the_toolkit_parser() -> None:
    error = api.check(answer(429, {}, {"retry-after": "7"}))
    assert error is not None and error.retry_after == 7.0


def test_a_refused_token_is_retried_only_on_the_first_try() -> None:
    refused = answer(json={"errcode": 42001, "errmsg": "access_token expired"})
    assert type(api.check(refused, token_retry=True)).__name__ == "_TokenRefused"
    assert isinstance(api.check(refused), InvalidCredentials)


def test_any_refusal_of_the_token_request_is_a_credentials_problem() -> None:
    refused = answer(json={"errcode": 40003, "errmsg": "invalid appid"})
    assert isinstance(api.check(refused, minting=True), InvalidCredentials)
    assert isinstance(api.check(answer(json={"errcode": 45009}), minting=True), Throttled)


def test_secrets_in_wechat_messages_are_redacted() -> None:
    error = api.check(answer(json={"errcode": 40003, "errmsg": "bad url ?access_token=SECRETTOKEN&x=1"}))
    assert error is not None and "SECRETTOKEN" not in error.reason


def test_the_renderer_is_the_toolkits() -> None:
    assert issubclass(WeChatRenderer, Renderer)
    overridden = {name for name in vars(WeChatRenderer) if not name.startswith("_")}
    assert "render" not in overridden  # the toolkit's exhaustive dispatch, no ladder of our own
