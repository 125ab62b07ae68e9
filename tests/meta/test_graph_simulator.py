"""The Graph API simulator itself: Graph's error shape and codes, token checks, signed webhook delivery, the
control API for standalone use."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from channelgate.testing.graph import GraphSimulator, main, validate_messenger, validate_whatsapp
from channelgate.testing.server import serve_app

SIM_TOKEN = "EAAG-sim-token"  # the conftest simulator's token
WA = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "16505551234"}


def buttons(n: int, title: str = "B") -> dict[str, Any]:
    return {
        **WA,
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": "Choose"},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": f"b{i}", "title": f"{title}{i}"}} for i in range(n)
                ]
            },
        },
    }


class Capture:
    """A webhook receiver that records what the simulator delivers."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes, dict[str, str]]] = []
        self.app = Starlette(routes=[Route("/hook", self.hook, methods=["GET", "POST"])])

    async def hook(self, request: Request) -> PlainTextResponse:
        self.requests.append(
            (request.method, dict(request.headers), await request.body(), dict(request.query_params))
        )
        return PlainTextResponse(request.query_params.get("hub.challenge", "EVENT_RECEIVED"))


async def post(url: str, body: Any, token: str | None = SIM_TOKEN, **kw: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient() as client:
        return await client.post(url, content=orjson.dumps(body), headers=headers, **kw)


def assert_graph_error(response: httpx.Response, status: int, code: int) -> dict[str, Any]:
    assert response.status_code == status
    error = response.json()["error"]
    assert error["type"] == "OAuthException" and error["code"] == code
    assert error["message"] and error["fbtrace_id"]
    return error


async def test_a_fourth_reply_button_is_error_100(sim, graph_url) -> None:
    response = await post(f"{graph_url}/{sim.phone_number_id}/messages", buttons(4))
    error = assert_graph_error(response, 400, 100)
    assert error["error_data"]["messaging_product"] == "whatsapp"
    assert "between 1 and 3 buttons (got 4)" in error["error_data"]["details"]
    assert sim.sent == [] and sim.rejected[0]["body"] == buttons(4)


async def test_a_21_character_button_title_is_error_100(sim, graph_url) -> None:
    body = buttons(1, title="x" * 20)  # "xxxxxxxxxxxxxxxxxxxx0": 21 characters
    error = assert_graph_error(await post(f"{graph_url}/{sim.phone_number_id}/messages", body), 400, 100)
    assert "title" in error["error_data"]["details"]
    assert validate_whatsapp(buttons(1, title="x" * 19)) is None


async def test_missing_messaging_product_is_error_100(sim, graph_url) -> None:
    body = {k: v for k, v in buttons(1).items() if k != "messaging_product"}
    error = assert_graph_error(await post(f"{graph_url}/{sim.phone_number_id}/messages", body), 400, 100)
    assert error["message"] == "(#100) The parameter messaging_product is required."


async def test_messenger_validation_uses_the_same_shape(sim, graph_url) -> None:
    replies = [{"content_type": "text", "title": f"Q{i}", "payload": f"P{i}"} for i in range(14)]
    body = {
        "recipient": {"id": "PSID"},
        "messaging_type": "RESPONSE",
        "message": {"text": "?", "quick_replies": replies},
    }
    error = assert_graph_error(await post(f"{graph_url}/me/messages", body), 400, 100)
    assert "between 1 and 13" in error["message"]
    assert "error_data" not in error


@pytest.mark.parametrize(
    "body",
    [
        {"recipient": {"id": "P"}, "message": {"text": "no messaging_type"}},
        {"recipient": {"id": "P"}, "messaging_type": "MESSAGE_TAG", "message": {"text": "no tag"}},
        {"recipient": {"id": "P"}, "messaging_type": "RESPONSE", "message": {"text": "x" * 2001}},
        {"recipient": {"id": "P"}, "messaging_type": "RESPONSE", "message": {}},
        {"recipient": {"id": "P"}, "sender_action": "dance"},
        {"messaging_type": "RESPONSE", "message": {"text": "no recipient"}},
        {
            "recipient": {"id": "P"},
            "messaging_type": "RESPONSE",
            "message": {
                "attachment": {
                    "type": "template",
                    "payload": {"template_type": "generic", "elements": [{"title": "only"}]},
                }
            },
        },
    ],
)
def test_messenger_validator_refuses_what_graph_refuses(body: dict[str, Any]) -> None:
    problem = validate_messenger(body)
    assert problem is not None and problem.code == 100


@pytest.mark.parametrize(
    "body",
    [
        {**WA, "type": "text", "text": {"body": ""}},
        {**WA, "type": "text", "text": {"body": "x" * 4097}},
        {**WA, "type": "image", "image": {"link": "https://x", "id": "1"}},
        {**WA, "type": "audio", "audio": {"link": "https://x", "caption": "no"}},
        {**WA, "type": "template", "template": {"name": "t"}},
        {"messaging_product": "whatsapp", "type": "text", "text": {"body": "no recipient"}},
        {
            **WA,
            "type": "interactive",
            "interactive": {
                "type": "list",
                "body": {"text": "x"},
                "action": {
                    "button": "B",
                    "sections": [{"rows": [{"id": str(i), "title": "t"} for i in range(11)]}],
                },
            },
        },
    ],
)
def test_whatsapp_validator_refuses_what_the_cloud_api_refuses(body: dict[str, Any]) -> None:
    problem = validate_whatsapp(body)
    assert problem is not None and problem.code == 100


async def test_tokens_are_checked(sim, graph_url) -> None:
    url = f"{graph_url}/{sim.phone_number_id}/messages"
    body = {**WA, "type": "text", "text": {"body": "hi"}}
    assert_graph_error(await post(url, body, token=None), 400, 2500)
    assert_graph_error(await post(url, body, token="EAAG-wrong"), 401, 190)
    response = await post(url, body, token=None, params={"access_token": sim.access_token})
    assert response.status_code == 200
    assert response.json()["messages"][0]["id"].startswith("wamid.")


async def test_unknown_node_and_version(sim, graph_url) -> None:
    error = assert_graph_error(await post(f"{graph_url}/424242/messages", {}), 400, 100)
    assert error["error_subcode"] == 33
    base = graph_url.rsplit("/", 1)[0]
    assert_graph_error(await post(f"{base}/latest/me/messages", {}), 400, 2500)


async def test_success_answers_have_the_platform_shape(sim, graph_url) -> None:
    wa = await post(
        f"{graph_url}/{sim.phone_number_id}/messages", {**WA, "type": "text", "text": {"body": "hi"}}
    )
    assert wa.json()["messaging_product"] == "whatsapp"
    assert wa.json()["contacts"] == [{"input": "16505551234", "wa_id": "16505551234"}]
    bsuid = {
        **{k: v for k, v in WA.items() if k != "to"},
        "recipient": "US.1",
        "type": "text",
        "text": {"body": "x"},
    }
    assert (await post(f"{graph_url}/{sim.phone_number_id}/messages", bsuid)).json()["contacts"] == [
        {"input": "US.1", "user_id": "US.1"}
    ]
    read = {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.X"}
    assert (await post(f"{graph_url}/{sim.phone_number_id}/messages", read)).json() == {"success": True}
    fb = await post(
        f"{graph_url}/me/messages",
        {"recipient": {"id": "P"}, "messaging_type": "RESPONSE", "message": {"text": "x"}},
    )
    assert fb.json()["recipient_id"] == "P" and fb.json()["message_id"].startswith("m_")
    assert [s.product for s in sim.sent] == ["whatsapp", "whatsapp", "whatsapp", "messenger"]


async def test_wait_for_sends_times_out_with_a_count(sim) -> None:
    with pytest.raises(TimeoutError, match=r"expected 1 sends within 0\.05s, got 0"):
        await sim.wait_for_sends(1, timeout=0.05)


async def test_wait_for_sends_wakes_up_on_a_send(sim, graph_url) -> None:
    waiter = asyncio.create_task(sim.wait_for_sends(1, timeout=5))
    await post(
        f"{graph_url}/me/messages",
        {"recipient": {"id": "P"}, "messaging_type": "UPDATE", "message": {"text": "x"}},
    )
    [sent] = await waiter
    assert sent.recipient == "P"


async def test_injected_failure_carries_retry_after_and_is_used_once(sim, graph_url) -> None:
    sim.fail_next(1, code=130429, retry_after=2.5)
    url, body = f"{graph_url}/{sim.phone_number_id}/messages", {**WA, "type": "text", "text": {"body": "x"}}
    first = await post(url, body)
    error = assert_graph_error(first, 400, 130429)
    assert first.headers["retry-after"] == "2.5" and error["message"] == "(#130429) Rate limit hit"
    assert (await post(url, body)).status_code == 200


def test_fail_next_needs_a_code_or_a_status(sim) -> None:
    with pytest.raises(ValueError):
        sim.fail_next(1)


async def test_deliver_signs_like_meta_with_the_reference_vector() -> None:
    sim = GraphSimulator(app_secret="my_app_secret")
    capture = Capture()
    async with serve_app(capture.app) as url:
        response = await sim.deliver(f"{url}/hook", b'{"object":"page","entry":[]}')
    assert response.status_code == 200
    [(method, headers, body, _)] = capture.requests
    assert (method, body) == ("POST", b'{"object":"page","entry":[]}')
    assert (
        headers["x-hub-signature-256"]
        == "sha256=f373092cfe9f34e1e016a6b15554116814589f121d055510f67b1f54e51b9eae"
    )
    assert headers["x-hub-signature"] == "sha1=6465f966513a430e644618cc49a1be02a96ebe93"
    assert headers["content-type"] == "application/json"


async def test_redelivery_sends_the_same_bytes(sim) -> None:
    capture = Capture()
    async with serve_app(capture.app) as url:
        await sim.deliver(f"{url}/hook", sim.messenger_text("PSID", "hi"))
        await sim.deliver(f"{url}/hook", sim.last_delivery)
        await sim.deliver(f"{url}/hook", sim.last_delivery, signed=False)
        await sim.deliver(f"{url}/hook", sim.last_delivery, signature="sha256=00")
    first, second, unsigned, forged = capture.requests
    assert first[2] == second[2] and first[1]["x-hub-signature-256"] == second[1]["x-hub-signature-256"]
    assert "x-hub-signature-256" not in unsigned[1]
    assert forged[1]["x-hub-signature-256"] == "sha256=00"


async def test_verify_sends_metas_handshake(sim) -> None:
    capture = Capture()
    async with serve_app(capture.app) as url:
        response = await sim.verify(f"{url}/hook", challenge="424242")
    assert response.text == "424242"
    [(method, _, _, query)] = capture.requests
    assert method == "GET"
    assert query == {"hub.mode": "subscribe", "hub.verify_token": sim.verify_token, "hub.challenge": "424242"}


async def test_profiles_and_media(sim, graph_url) -> None:
    sim.profiles["PSID"] = {"first_name": "Ann", "last_name": "Lee", "locale": "fr_FR"}
    sim.add_media("55", b"data", "audio/ogg")
    headers = {"Authorization": f"Bearer {sim.access_token}"}
    async with httpx.AsyncClient(headers=headers) as client:
        profile = (await client.get(f"{graph_url}/PSID", params={"fields": "first_name,locale"})).json()
        media = (await client.get(f"{graph_url}/55")).json()
        download = await client.get(media["url"])
    async with httpx.AsyncClient() as client:
        anonymous = await client.get(media["url"])
    assert profile == {"first_name": "Ann", "locale": "fr_FR", "id": "PSID"}
    assert (media["mime_type"], media["file_size"]) == ("audio/ogg", 4)
    assert (download.content, download.headers["content-type"]) == (b"data", "audio/ogg")
    assert anonymous.status_code == 400


async def test_control_api_says_what_a_user_would(graph_url) -> None:
    base = graph_url.rsplit("/", 1)[0]
    capture = Capture()
    async with serve_app(capture.app) as hook, httpx.AsyncClient() as client:
        said = await client.post(
            f"{base}/_sim/say", json={"webhook": f"{hook}/hook", "user": "PSID_9", "text": "hi"}
        )
        tapped = await client.post(
            f"{base}/_sim/say", json={"webhook": f"{hook}/hook", "payload": "YES", "title": "Yes"}
        )
        missing = await client.post(f"{base}/_sim/say", json={"text": "hi"})
        queued = await client.post(f"{base}/_sim/fail", json={"code": 4, "count": 2})
        sent = await client.get(f"{base}/_sim/sent")
    assert said.json() == {"status": 200, "body": "EVENT_RECEIVED"} and tapped.json()["status"] == 200
    assert missing.status_code == 400
    assert queued.json() == {"queued": 2}
    assert sent.json() == []
    text_event = orjson.loads(capture.requests[0][2])["entry"][0]["messaging"][0]
    assert text_event["sender"] == {"id": "PSID_9"} and text_event["message"]["text"] == "hi"
    postback = orjson.loads(capture.requests[1][2])["entry"][0]["messaging"][0]["postback"]
    assert (postback["payload"], postback["title"]) == ("YES", "Yes")


async def test_an_outage_answers_every_call_with_500_until_it_ends(sim, graph_url) -> None:
    base = graph_url.rsplit("/", 1)[0]
    body = {"recipient": {"id": "P"}, "messaging_type": "UPDATE", "message": {"text": "x"}}
    typing = {"recipient": {"id": "P"}, "sender_action": "typing_on"}
    async with httpx.AsyncClient() as client:
        started = await client.post(f"{base}/_sim/outage", json={"seconds": 60, "status": 502})
        during = [
            await post(f"{graph_url}/me/messages", body),
            await post(f"{graph_url}/me/messages", typing),
            await client.get(f"{graph_url}/PSID", headers={"Authorization": f"Bearer {SIM_TOKEN}"}),
        ]
        bad = await client.post(f"{base}/_sim/outage", json={"seconds": 1, "status": 404})
        ended = await client.post(f"{base}/_sim/outage", json={"seconds": 0})
        after = await post(f"{graph_url}/me/messages", body)
    assert started.status_code == 200 and 59 < started.json()["seconds_left"] <= 60
    for response in during:
        assert_graph_error(response, 502, 2)
    assert bad.status_code == 400 and "status" in bad.json()["error"]
    assert ended.json() == {"seconds_left": 0.0, "refused": 3}
    assert after.status_code == 200
    assert [s.body["message"]["text"] for s in sim.sent] == ["x"]


async def test_an_outage_ends_by_itself(sim, graph_url) -> None:
    body = {"recipient": {"id": "P"}, "messaging_type": "UPDATE", "message": {"text": "x"}}
    sim.outage(0.3)
    assert_graph_error(await post(f"{graph_url}/me/messages", body), 500, 2)
    for _ in range(100):  # poll: the end is measured on the simulator's clock
        await asyncio.sleep(0.05)
        if not sim.outage_left():
            break
    assert (await post(f"{graph_url}/me/messages", body)).status_code == 200


def test_main_refuses_an_unknown_kind() -> None:
    with pytest.raises(SystemExit, match="telegram"):
        main("telegram", "127.0.0.1", 0)


async def test_send_delay_slows_every_accepted_send(sim, graph_url) -> None:
    sim.send_delay = 0.1
    loop = asyncio.get_running_loop()
    started = loop.time()
    body = {"recipient": {"id": "P"}, "messaging_type": "UPDATE", "message": {"text": "x"}}
    assert (await post(f"{graph_url}/me/messages", body)).status_code == 200
    assert loop.time() - started >= 0.1
