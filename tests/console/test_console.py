"""The console over HTTP (a real gateway on loopback): off until an operator exists, sign-in, cookies,
CSRF, the Content-Security-Policy, roles, escaping, and each operation reaching the same code as the API."""

from __future__ import annotations

import re

import httpx
import pytest

from channelgate.store import admin, operators
from channelgate.testing.gateway import run_gateway, wait_until
from tests.console.conftest import PASSWORD, ConsoleEnv, csrf_of, sign_in

WRITE_ROUTES = [
    "/console/integrations/new",
    "/console/integrations/webchat/site/edit",
    "/console/integrations/webchat/site/delete",
    "/console/integrations/webchat/site/test",
    "/console/conversations/0123abcd/send",
    "/console/dead-letters",
    "/console/send",
    "/console/broadcasts",
    "/console/broadcasts/0123abcd/cancel",
]
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
INLINE_STYLE = re.compile(r"\sstyle\s*=", re.IGNORECASE)


async def add_messenger(env: ConsoleEnv, client: httpx.AsyncClient, label: str = "shop") -> httpx.Response:
    page = await client.get("/console/integrations/new", params={"channel": "messenger"})
    assert page.status_code == 200
    cfg = env.messenger_config(label)
    return await client.post(
        "/console/integrations/new",
        data={
            "csrf": csrf_of(page.text),
            "channel": "messenger",
            "label": label,
            "locale": "en-US",
            "config.app_secret": cfg["app_secret"],
            "config.page_access_token": cfg["page_access_token"],
            "config.api_base_url": cfg["api_base_url"],
        },
    )


async def test_the_console_is_off_until_an_operator_exists(env: ConsoleEnv) -> None:
    async with env.client() as client:
        for path in ("/console", "/console/login", "/console/conversations"):
            answer = await client.get(path)
            assert answer.status_code == 404, path
            assert "channelgate console add-user NAME" in answer.text
        refused = await client.post("/console/login", data={"username": "x", "password": "y"})
        assert refused.status_code == 404
    await operators.add_operator(env.gw.store, "alice", PASSWORD)
    async with env.client() as client:
        answer = await client.get("/console")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/console/login"


async def test_sign_in_sets_a_strict_httponly_session_and_lists_the_callback_urls(
    env: ConsoleEnv, operators_added: None
) -> None:
    async with env.client() as client:
        page = await client.get("/console/login")
        assert page.status_code == 200
        for name in ('name="username"', 'name="password"', 'name="csrf"', 'method="post"'):
            assert name in page.text
        wrong = await sign_in(client, "alice", "not the password")
        assert wrong.status_code == 401
        assert "Wrong name or password." in wrong.text
        assert "channelgate_console=" not in wrong.headers.get("set-cookie", "")
        unknown = await sign_in(client, "nobody", PASSWORD)
        assert unknown.status_code == 401

        answer = await sign_in(client, "alice")
        assert answer.status_code == 303 and answer.headers["location"] == "/console"
        cookie = next(
            c for c in answer.headers.get_list("set-cookie") if c.startswith("channelgate_console=")
        )
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
        assert "Secure" not in cookie  # the public URL is http here
        home = await client.get("/console")
        assert home.status_code == 200
        assert f"{env.gw.url}/webhooks/webchat/site" in home.text

        out = await client.post("/console/logout", data={"csrf": csrf_of(home.text)})
        assert out.status_code == 303
        again = await client.get("/console")
        assert again.status_code == 303 and again.headers["location"] == "/console/login"


async def test_the_session_cookie_is_secure_behind_https(tmp_path: object) -> None:
    config = {
        "bot": "demo",
        "public_url": "https://gateway.example",
        "integrations": [{"channel": "webchat", "label": "site", "locale": "en-US"}],
    }
    async with run_gateway(config) as gw:
        await operators.add_operator(gw.store, "alice", PASSWORD)
        async with httpx.AsyncClient(base_url=gw.url) as client:
            page = await client.get("/console/login")
            login_cookie = page.headers["set-cookie"]
            assert "Secure" in login_cookie
            # the client keeps Secure cookies for https only: send it back by hand over loopback http
            value = login_cookie.split(";")[0]
            answer = await client.post(
                "/console/login",
                data={"csrf": csrf_of(page.text), "username": "alice", "password": PASSWORD},
                headers={"Cookie": value},
            )
            assert answer.status_code == 303
            cookies = answer.headers.get_list("set-cookie")
            assert any(c.startswith("channelgate_console=") and "Secure" in c for c in cookies)


async def test_the_sign_in_form_needs_its_csrf_token(env: ConsoleEnv, operators_added: None) -> None:
    async with env.client() as client:
        page = await client.get("/console/login")
        token = csrf_of(page.text)
        client.cookies.clear()
        answer = await client.post(
            "/console/login", data={"csrf": token, "username": "alice", "password": PASSWORD}
        )
        assert answer.status_code == 403
        assert "channelgate_console=" not in " ".join(answer.headers.get_list("set-cookie"))


async def test_every_page_has_a_strict_csp_and_no_inline_code(
    env: ConsoleEnv, alice: httpx.AsyncClient
) -> None:
    assert (await add_messenger(env, alice)).status_code == 303
    await env.sim.deliver(
        env.gw.webhook_url("messenger", "shop"), env.sim.messenger_text("PSID1", "hi there")
    )
    await wait_until(lambda: env.gw.store.conversations.find("messenger", "shop", "PSID1"), timeout=10)
    conversation = await env.gw.store.conversations.find("messenger", "shop", "PSID1")
    pages = [
        "/console",
        "/console/integrations/new?channel=messenger",
        "/console/integrations/messenger/shop",
        "/console/conversations",
        f"/console/conversations/{conversation['id']}",
        "/console/dead-letters",
        "/console/send",
    ]
    for path in pages:
        answer = await alice.get(path)
        assert answer.status_code == 200, path
        csp = answer.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe" not in csp
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["cache-control"] == "no-store"
        assert not INLINE_SCRIPT.search(answer.text), path
        assert not INLINE_HANDLER.search(answer.text), path
        assert not INLINE_STYLE.search(answer.text), path
    script = await alice.get("/console/static/console.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]


async def test_forms_without_the_sessions_csrf_token_are_refused(
    env: ConsoleEnv, alice: httpx.AsyncClient
) -> None:
    cfg = env.messenger_config("shop")
    data = {
        "channel": "messenger",
        "label": "shop",
        "config.page_access_token": cfg["page_access_token"],
        "config.api_base_url": cfg["api_base_url"],
    }
    for token in (None, "forged-token"):
        body = dict(data) if token is None else {**data, "csrf": token}
        answer = await alice.post("/console/integrations/new", data=body)
        assert answer.status_code == 403
        assert "CSRF" in answer.text
    assert ("messenger", "shop") not in env.gw.gateway.integrations
    as_json = await alice.post("/console/integrations/new", json=data)
    assert as_json.status_code == 415


async def test_adding_a_messenger_integration_serves_its_callback_url(
    env: ConsoleEnv, alice: httpx.AsyncClient
) -> None:
    answer = await add_messenger(env, alice)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/integrations/messenger/shop?created=1"
    integration = env.gw.gateway.integrations[("messenger", "shop")]
    assert integration.source == "store"
    stored = await admin.stored_integration(env.gw.store, "messenger", "shop")
    assert stored is not None
    verify_token = stored["config"]["verify_token"]  # generated, as the API does
    assert len(verify_token) >= 20

    page = await alice.get(answer.headers["location"])
    callback = f"{env.gw.url}/webhooks/messenger/shop"
    assert f'<code id="callback-url">{callback}</code>' in page.text
    assert verify_token in page.text
    assert "Messenger → Settings → Webhooks" in page.text
    # the platform's verification with that token works on the callback URL
    check = await env.sim.verify(callback, verify_token)
    assert check.status_code == 200 and check.text == "1158201444"
    home = await alice.get("/console")
    assert callback in home.text


async def test_a_missing_setting_is_shown_next_to_its_field(
    env: ConsoleEnv, alice: httpx.AsyncClient
) -> None:
    page = await alice.get("/console/integrations/new", params={"channel": "messenger"})
    answer = await alice.post(
        "/console/integrations/new",
        data={
            "csrf": csrf_of(page.text),
            "channel": "messenger",
            "label": "shop",
            "config.api_base_url": "x",
        },
    )
    assert answer.status_code == 400
    help_text = re.search(r'id="config-page_access_token-help">(.*?)</p>', answer.text, re.DOTALL)
    assert help_text is not None and "Field required" in help_text.group(1)
    assert ("messenger", "shop") not in env.gw.gateway.integrations
    # a secret typed in is not sent back into the page
    again = await alice.post(
        "/console/integrations/new",
        data={
            "csrf": csrf_of(page.text),
            "channel": "messenger",
            "label": "Bad Label",
            "config.page_access_token": "EAAG-very-secret",
        },
    )
    assert again.status_code == 400
    assert "EAAG-very-secret" not in again.text


async def test_send_a_test_shows_the_bots_answer(env: ConsoleEnv, alice: httpx.AsyncClient) -> None:
    assert (await add_messenger(env, alice)).status_code == 303
    page = await alice.get("/console/integrations/messenger/shop")
    answer = await alice.post(
        "/console/integrations/messenger/shop/test", data={"csrf": csrf_of(page.text), "text": "ping 42"}
    )
    assert answer.status_code == 200
    assert "You said: ping 42" in answer.text
    sent = await env.sim.wait_for_sends(1, timeout=10)
    texts = [s.body.get("message", {}).get("text") for s in sent]
    assert "You said: ping 42" in texts


async def test_message_text_is_never_markup(env: ConsoleEnv, alice: httpx.AsyncClient) -> None:
    assert (await add_messenger(env, alice)).status_code == 303
    evil = '<script>alert(1)</script><img src=x onerror="alert(2)">'
    await env.sim.deliver(env.gw.webhook_url("messenger", "shop"), env.sim.messenger_text("PSID9", evil))
    await env.sim.wait_for_sends(1, timeout=10)
    conversation = await env.gw.store.conversations.find("messenger", "shop", "PSID9")
    page = await alice.get(f"/console/conversations/{conversation['id']}")
    fragment = await alice.get(f"/console/conversations/{conversation['id']}/transcript")
    for html in (page.text, fragment.text):
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "<script>alert" not in html and "<img src=x" not in html


async def test_a_read_only_operator_sees_no_forms_and_is_refused_every_change(
    env: ConsoleEnv, rob: httpx.AsyncClient
) -> None:
    home = await rob.get("/console")
    assert home.status_code == 200
    assert "read-only" in home.text
    assert "Add an integration" not in home.text
    token = csrf_of(home.text)  # rob's own, valid token (from the sign-out form)
    for path in ("/console", "/console/integrations/webchat/site", "/console/dead-letters", "/console/send"):
        page = await rob.get(path)
        posts = re.findall(r'<form[^>]*method="post"[^>]*action="([^"]+)"', page.text)
        assert posts == ["/console/logout"], path
    for path in WRITE_ROUTES:
        answer = await rob.post(path, data={"csrf": token, "channel": "messenger", "label": "x", "ids": "1"})
        assert answer.status_code == 403, path
        assert "read-only" in answer.text
    assert set(env.gw.gateway.integrations) == {("webchat", "site")}


async def dead_ids(env: ConsoleEnv) -> list[int]:
    rows = await admin.dead_letters(env.gw.store, channel=None, label=None, limit=50, after_id=None)
    return [int(r["id"]) for r in rows]


async def test_dead_letters_replay_in_order_and_discard(env: ConsoleEnv, alice: httpx.AsyncClient) -> None:
    assert (await add_messenger(env, alice)).status_code == 303
    # the demo bot greets a new user, then echoes: two messages, both failing until past the retry budget
    env.sim.outage(600, status=503)
    hook = env.gw.webhook_url("messenger", "shop")
    await env.sim.deliver(hook, env.sim.messenger_text("PSID2", "first"))

    async def dead(n: int) -> bool:
        return len(await dead_ids(env)) == n

    await wait_until(lambda: dead(2), timeout=20)
    env.sim.outage(0)
    page = await alice.get("/console/dead-letters")
    assert "You said: first" in page.text and "Service temporarily unavailable" in page.text
    ids = [int(i) for i in re.findall(r'name="ids" value="(\d+)"', page.text)]
    assert ids == await dead_ids(env)
    # selected newest first on purpose: the replay still goes oldest first, so the greeting leads
    replay = await alice.post(
        "/console/dead-letters",
        data={"csrf": csrf_of(page.text), "action": "replay", "ids": [str(i) for i in reversed(ids)]},
    )
    assert replay.status_code == 200
    assert f"Queued again: {ids[0]}, {ids[1]}" in replay.text

    def replayed() -> list[str]:
        # the read mark and typing indicator riding on the greeting go again too when the replay comes
        # within their 2 s (a test's short retry budget): only the messages count here
        return [s.body["message"].get("text") for s in env.sim.sent if "message" in s.body]

    await wait_until(lambda: len(replayed()) >= 2, timeout=10)
    texts = replayed()
    assert texts[-1] == "You said: first" and len(texts) == 2

    env.sim.outage(600, status=503)
    await env.sim.deliver(hook, env.sim.messenger_text("PSID2", "second"))
    await wait_until(lambda: dead(1), timeout=20)
    env.sim.outage(0)
    (third,) = await dead_ids(env)
    page = await alice.get("/console/dead-letters")
    discard = await alice.post(
        "/console/dead-letters", data={"csrf": csrf_of(page.text), "action": "discard", "ids": [str(third)]}
    )
    assert f"Discarded: {third}" in discard.text
    assert "No dead letters." in discard.text
    row = await admin.outbox_row(env.gw.store, third)
    assert row is not None and row["status"] == "failed"
    assert row["reason"] == (
        "discarded by alice: Graph API error 2: Service temporarily unavailable"
        " (still failing after the retry budget of 1s)"
    )
    nothing = await alice.post("/console/dead-letters", data={"csrf": csrf_of(page.text), "action": "replay"})
    assert nothing.status_code == 400
    for bad in ("x", "0", str(2**63)):
        refused = await alice.post(
            "/console/dead-letters", data={"csrf": csrf_of(page.text), "action": "replay", "ids": bad}
        )
        assert refused.status_code == 400, bad


async def test_an_operator_sends_a_message_into_a_conversation(
    env: ConsoleEnv, alice: httpx.AsyncClient
) -> None:
    assert (await add_messenger(env, alice)).status_code == 303
    await env.sim.deliver(env.gw.webhook_url("messenger", "shop"), env.sim.messenger_text("PSID4", "help"))
    await env.sim.wait_for_sends(1, timeout=10)
    conversation = await env.gw.store.conversations.find("messenger", "shop", "PSID4")
    page = await alice.get(f"/console/conversations/{conversation['id']}")
    assert "Open: a free-form message may be sent now" in page.text
    answer = await alice.post(
        f"/console/conversations/{conversation['id']}/send",
        data={"csrf": csrf_of(page.text), "text": "A person here: how can I help?"},
    )
    assert answer.status_code == 303
    await wait_until(
        lambda: (
            "A person here: how can I help?" in [s.body.get("message", {}).get("text") for s in env.sim.sent]
        ),
        timeout=10,
    )
    empty = await alice.post(
        f"/console/conversations/{conversation['id']}/send", data={"csrf": csrf_of(page.text), "text": ""}
    )
    assert empty.status_code == 422


@pytest.mark.parametrize("accept", ["zh-CN,zh;q=0.9", "zh-Hans"])
async def test_pages_speak_simplified_chinese(env: ConsoleEnv, operators_added: None, accept: str) -> None:
    async with httpx.AsyncClient(base_url=env.gw.url, headers={"Accept-Language": accept}) as client:
        page = await client.get("/console/login")
        assert '<html lang="zh-Hans">' in page.text
        assert "登录" in page.text


async def test_an_integration_is_edited_and_removed_through_the_api_operations(
    env: ConsoleEnv, alice: httpx.AsyncClient
) -> None:
    assert (await add_messenger(env, alice)).status_code == 303
    page = await alice.get("/console/integrations/messenger/shop")
    assert "EAAG" not in page.text  # secrets are never put back into a form
    before = await admin.stored_integration(env.gw.store, "messenger", "shop")
    assert before is not None
    answer = await alice.post(
        "/console/integrations/messenger/shop/edit",
        data={
            "csrf": csrf_of(page.text),
            "locale": "fr-FR",
            "config.api_base_url": env.sim.api_base_url(env.sim_url),
            "config.rate_limit": "12.5",
            "config.page_access_token": "",  # left empty: unchanged
        },
    )
    assert answer.status_code == 303, answer.text
    after = await admin.stored_integration(env.gw.store, "messenger", "shop")
    assert after is not None and after["locale"] == "fr-FR"
    assert after["config"]["rate_limit"] == 12.5
    assert after["config"]["page_access_token"] == before["config"]["page_access_token"]
    assert env.gw.gateway.integrations[("messenger", "shop")].locale == "fr-FR"

    bad = await alice.post(
        "/console/integrations/messenger/shop/edit",
        data={"csrf": csrf_of(page.text), "locale": "fr-FR", "config.rate_limit": "-1"},
    )
    assert bad.status_code == 400
    help_text = re.search(r'id="config-rate_limit-help">(.*?)</p>', bad.text, re.DOTALL)
    assert help_text is not None and "greater than 0" in help_text.group(1)

    removed = await alice.post(
        "/console/integrations/messenger/shop/delete", data={"csrf": csrf_of(page.text)}
    )
    assert removed.status_code == 303
    assert ("messenger", "shop") not in env.gw.gateway.integrations
    assert await admin.stored_integration(env.gw.store, "messenger", "shop") is None


async def test_config_file_integrations_are_read_only_with_the_reason(
    env: ConsoleEnv, alice: httpx.AsyncClient
) -> None:
    page = await alice.get("/console/integrations/webchat/site")
    assert "defined in the config file" in page.text
    assert "/console/integrations/webchat/site/edit" not in page.text
    answer = await alice.post("/console/integrations/webchat/site/delete", data={"csrf": csrf_of(page.text)})
    assert answer.status_code == 409
    assert "read-only in the API" in answer.text
    assert ("webchat", "site") in env.gw.gateway.integrations


async def test_unknown_things_are_404_pages(env: ConsoleEnv, alice: httpx.AsyncClient) -> None:
    for path in (
        "/console/integrations/messenger/nope",
        "/console/conversations/0123abcd",
        "/console/integrations/new?channel=nope",
    ):
        answer = await alice.get(path)
        assert answer.status_code == 404, path
        assert "content-security-policy" in answer.headers


async def test_password_guessing_is_throttled(env: ConsoleEnv, operators_added: None) -> None:
    async with env.client() as client:
        for _ in range(5):
            assert (await sign_in(client, "alice", "wrong guess")).status_code == 401
        blocked = await sign_in(client, "alice")  # even the right password, for now
        assert blocked.status_code == 429
        assert 0 < int(blocked.headers["retry-after"]) <= 301
        assert "Too many wrong passwords" in blocked.text
        assert (await sign_in(client, "rob")).status_code == 303  # another name is not held up


def test_the_throttle_forgets_after_its_window() -> None:
    from channelgate.web.console.throttle import SignInThrottle

    throttle = SignInThrottle(per_name=2, per_address=3, window=10)
    throttle.failed("a", "1.2.3.4", now=0)
    assert throttle.wait("a", "1.2.3.4", now=1) == 0
    throttle.failed("A", "1.2.3.4", now=1)  # names are compared case-insensitively
    assert throttle.wait("a", "1.2.3.4", now=2) == 8
    assert throttle.wait("a", "1.2.3.4", now=10.5) == 0
    for second, name in ((20, "b"), (21, "c"), (22, "d")):  # three names from one address
        throttle.failed(name, "5.6.7.8", now=second)
    assert throttle.wait("e", "5.6.7.8", now=23) == 7  # the address is held until 20 + 10
    assert throttle.wait("e", "9.9.9.9", now=23) == 0
    throttle.succeeded("A", "1.2.3.4")
    throttle.failed("a", "1.2.3.4", now=24)
    assert throttle.wait("a", "1.2.3.4", now=24) == 0  # a success wiped the name's count


async def test_send_to_one_user_explains_and_applies_the_window(
    env: ConsoleEnv, alice: httpx.AsyncClient
) -> None:
    assert (await add_messenger(env, alice)).status_code == 303
    await env.sim.deliver(env.gw.webhook_url("messenger", "shop"), env.sim.messenger_text("PSID5", "hi"))
    await wait_until(lambda: len(env.sim.sent) >= 2, timeout=10)
    page = await alice.get("/console/send")
    assert "Messenger: free-form messages within 24 hours" in page.text
    answer = await alice.post(
        "/console/send",
        data={
            "csrf": csrf_of(page.text),
            "integration": "messenger/shop",
            "user_id": "PSID5",
            "text": "Your order shipped",
        },
    )
    assert answer.status_code == 303 and answer.headers["location"].startswith("/console/conversations/")
    await wait_until(
        lambda: "Your order shipped" in [s.body.get("message", {}).get("text") for s in env.sim.sent],
        timeout=10,
    )
    refused = await alice.post(
        "/console/send",
        data={
            "csrf": csrf_of(page.text),
            "integration": "messenger/shop",
            "user_id": "never-wrote",
            "text": "Hi",
        },
    )
    assert refused.status_code == 422
    assert "messenger refuses this send" in refused.text


async def test_a_broadcast_shows_its_progress_and_a_finished_one_cannot_be_cancelled(
    env: ConsoleEnv, alice: httpx.AsyncClient
) -> None:
    assert (await add_messenger(env, alice)).status_code == 303
    hook = env.gw.webhook_url("messenger", "shop")
    for psid in ("PSID6", "PSID7"):
        await env.sim.deliver(hook, env.sim.messenger_text(psid, "hi"))
    await wait_until(lambda: env.gw.store.conversations.find("messenger", "shop", "PSID7"), timeout=10)
    page = await alice.get("/console/send")
    answer = await alice.post(
        "/console/broadcasts",
        data={
            "csrf": csrf_of(page.text),
            "integration": "messenger/shop",
            "recipients": "",
            "text": "Sale today",
        },
    )
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location.startswith("/console/broadcasts/")

    async def all_sent() -> bool:
        fragment = await alice.get(f"{location}/progress")
        return "sent: 2" in fragment.text or "delivered: 2" in fragment.text

    await wait_until(all_sent, timeout=20)
    texts = [s.body.get("message", {}).get("text") for s in env.sim.sent]
    assert texts.count("Sale today") == 2
    detail = await alice.get(location)
    assert "PSID6" in detail.text and "PSID7" in detail.text
    listing = await alice.get("/console/send")
    assert location in listing.text
    cancel = await alice.post(f"{location}/cancel", data={"csrf": csrf_of(detail.text)})
    assert cancel.status_code == 200
    assert "has finished" in cancel.text


async def test_the_overview_charts_the_metrics_per_channel(env: ConsoleEnv, alice: httpx.AsyncClient) -> None:
    assert (await add_messenger(env, alice)).status_code == 303
    await env.sim.deliver(env.gw.webhook_url("messenger", "shop"), env.sim.messenger_text("PSID8", "hi"))
    await wait_until(lambda: len(env.sim.sent) >= 2, timeout=10)
    page = await alice.get("/console/overview")
    assert page.status_code == 200
    card = page.text[page.text.index('id="ch-messenger"') :]
    webhooks = re.search(r"Webhooks: <strong>([0-9.]+)/min</strong>", card)
    assert webhooks is not None and float(webhooks.group(1)) > 0
    assert re.search(r'<polyline points="[0-9., ]+">', card)
    assert "Bot latency (mean)" in card and "inbox_pending" in page.text
    fragment = await alice.get("/console/overview/charts")
    assert fragment.status_code == 200 and 'id="ch-messenger"' in fragment.text


async def test_send_a_test_on_whatsapp(env: ConsoleEnv, alice: httpx.AsyncClient) -> None:
    page = await alice.get("/console/integrations/new", params={"channel": "whatsapp"})
    created = await alice.post(
        "/console/integrations/new",
        data={
            "csrf": csrf_of(page.text),
            "channel": "whatsapp",
            "label": "support",
            "locale": "en-US",
            "config.app_secret": env.sim.app_secret,
            "config.access_token": env.sim.access_token,
            "config.phone_number_id": env.sim.phone_number_id,
            "config.api_base_url": env.sim.api_base_url(env.sim_url),
            "config.rate_limit": "80",
        },
    )
    assert created.status_code == 303, created.text
    page = await alice.get("/console/integrations/whatsapp/support")
    assert "WhatsApp → Configuration → Webhook" in page.text
    answer = await alice.post(
        "/console/integrations/whatsapp/support/test", data={"csrf": csrf_of(page.text), "text": "ping wa"}
    )
    assert answer.status_code == 200
    assert "You said: ping wa" in answer.text
    assert "sent" in answer.text


async def test_the_sign_in_page_sends_a_signed_in_operator_home(
    env: ConsoleEnv, alice: httpx.AsyncClient
) -> None:
    answer = await alice.get("/console/login")
    assert answer.status_code == 303 and answer.headers["location"] == "/console"


async def test_conversations_are_found_by_channel_integration_and_user(
    env: ConsoleEnv, alice: httpx.AsyncClient
) -> None:
    assert (await add_messenger(env, alice)).status_code == 303
    hook = env.gw.webhook_url("messenger", "shop")
    await env.sim.deliver(hook, env.sim.messenger_text("PSID-anna", "hi"))
    await env.sim.deliver(hook, env.sim.messenger_text("PSID-bert", "hi"))
    await wait_until(lambda: env.gw.store.conversations.find("messenger", "shop", "PSID-bert"), timeout=10)
    everyone = await alice.get("/console/conversations")
    assert "PSID-anna" in everyone.text and "PSID-bert" in everyone.text
    by_user = await alice.get("/console/conversations", params={"q": "anna"})
    assert "PSID-anna" in by_user.text and "PSID-bert" not in by_user.text
    by_channel = await alice.get("/console/conversations", params={"label": "messenger/"})
    assert "PSID-anna" in by_channel.text and "PSID-bert" in by_channel.text
    other = await alice.get("/console/conversations", params={"label": "webchat/site"})
    assert "PSID-anna" not in other.text and "No conversations found." in other.text
    bad = await alice.get("/console/conversations", params={"label": "Not A Label/x"})
    assert bad.status_code == 400


async def test_an_api_key_signs_in_with_its_scope_and_revoking_it_ends_the_session(
    env: ConsoleEnv, operators_added: None
) -> None:
    read_key, read_secret = await admin.create_key(env.gw.store, "dashboard", "read")
    _, full_secret = await admin.create_key(env.gw.store, "ops", "full")
    async with env.client() as client:
        page = await client.get("/console/login")
        assert 'name="api_key"' in page.text
        wrong = await client.post("/console/login", data={"csrf": csrf_of(page.text), "api_key": "cg_nope"})
        assert wrong.status_code == 401 and "Unknown or revoked API key." in wrong.text
        page = await client.get("/console/login")
        answer = await client.post(
            "/console/login", data={"csrf": csrf_of(page.text), "api_key": read_secret}
        )
        assert answer.status_code == 303
        home = await client.get("/console")
        assert "dashboard (API key" in home.text and "read-only" in home.text
        refused = await client.post("/console/integrations/new", data={"csrf": csrf_of(home.text)})
        assert refused.status_code == 403
        await admin.revoke_key(env.gw.store, read_key.id)
        gone = await client.get("/console")
        assert gone.status_code == 303 and gone.headers["location"] == "/console/login"
    async with env.client() as client:
        page = await client.get("/console/login")
        await client.post("/console/login", data={"csrf": csrf_of(page.text), "api_key": full_secret})
        home = await client.get("/console")
        assert "ops (API key" in home.text and "Add an integration" in home.text


async def test_send_a_test_on_wechat_in_safe_mode(env: ConsoleEnv, alice: httpx.AsyncClient) -> None:
    from channelgate.testing.server import serve_app
    from channelgate.testing.wechat import WeChatSimulator
    from tests.wechat.helpers import AES_KEY, APP_ID, APP_SECRET, TOKEN

    wechat = WeChatSimulator(app_id=APP_ID, app_secret=APP_SECRET, token=TOKEN, encoding_aes_key=AES_KEY)
    async with serve_app(wechat.app) as wechat_url:
        page = await alice.get("/console/integrations/new", params={"channel": "wechat"})
        assert "<option selected>safe</option>" in page.text  # a Literal field is a select, at its default
        created = await alice.post(
            "/console/integrations/new",
            data={
                "csrf": csrf_of(page.text),
                "channel": "wechat",
                "label": "oa",
                "locale": "en-US",
                "config.app_id": APP_ID,
                "config.app_secret": APP_SECRET,
                "config.token": TOKEN,
                "config.encoding_aes_key": AES_KEY,
                "config.encryption_mode": "safe",
                "config.api_base_url": wechat_url,
            },
        )
        assert created.status_code == 303, created.text
        page = await alice.get("/console/integrations/wechat/oa")
        assert "Server Configuration" in page.text
        answer = await alice.post(
            "/console/integrations/wechat/oa/test", data={"csrf": csrf_of(page.text), "text": "ping wechat"}
        )
        assert answer.status_code == 200
        assert "You said: ping wechat" in answer.text


@pytest.mark.parametrize("channel", ["gbm", "rbm"])
async def test_send_a_test_on_google(env: ConsoleEnv, alice: httpx.AsyncClient, channel: str) -> None:
    import orjson

    from channelgate.testing.google import GoogleAgentSimulator, generate_key_pem
    from channelgate.testing.server import serve_app

    google = GoogleAgentSimulator(client_token="console-client-token", private_key_pem=generate_key_pem())
    async with serve_app(google.app) as google_url:
        key_json = orjson.dumps(google.service_account_info(token_uri=f"{google_url}/token")).decode()
        page = await alice.get("/console/integrations/new", params={"channel": channel})
        data = {
            "csrf": csrf_of(page.text),
            "channel": channel,
            "label": "brand",
            "locale": "en-US",
            "config.client_token": "console-client-token",
            "config.service_account": key_json,
            "config.api_base_url": f"{google_url}/v1",
        }
        if channel == "rbm":
            data["config.agent_id"] = "sim-agent"
        created = await alice.post("/console/integrations/new", data=data)
        assert created.status_code == 303, created.text
        page = await alice.get(f"/console/integrations/{channel}/brand")
        answer = await alice.post(
            f"/console/integrations/{channel}/brand/test", data={"csrf": csrf_of(page.text), "text": "ping g"}
        )
        assert answer.status_code == 200
        assert "You said: ping g" in answer.text
        assert '<p class="status sent">' in answer.text or '<p class="status delivered">' in answer.text


async def test_an_api_made_desk_shows_its_webhook_url_to_writers_and_survives_a_console_edit(
    env: ConsoleEnv, alice: httpx.AsyncClient, rob: httpx.AsyncClient
) -> None:
    _, key = await admin.create_key(env.gw.store, "tests", "full")
    cfg = env.messenger_config("desk")
    body = {
        "channel": "messenger",
        "label": "desk",
        "config": {k: v for k, v in cfg.items() if k not in ("channel", "label", "locale")},
        "handoff": {
            "chatwoot": {
                "url": "http://127.0.0.1:9",
                "account_id": 1,
                "inbox_id": 2,
                "api_access_token": "cw-console-token",
            }
        },
    }
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=f"{env.gw.url}/api/v1", headers=headers) as api:
        created = await api.post("/integrations", json=body)
    assert created.status_code == 201, created.text
    webhook = created.json()["setup"]["chatwoot_webhook_url"]

    page = await alice.get("/console/integrations/messenger/desk")
    assert webhook in page.text and "cw-console-token" not in page.text
    read_only = await rob.get("/console/integrations/messenger/desk")
    assert read_only.status_code == 200 and webhook not in read_only.text

    edited = await alice.post(
        "/console/integrations/messenger/desk/edit",
        data={"csrf": csrf_of(page.text), "locale": "fr-FR", "config.api_base_url": cfg["api_base_url"]},
    )
    assert edited.status_code == 303, edited.text
    desk = env.gw.gateway.handoffs.chatwoot("messenger", "desk")
    assert desk is not None and desk.api_access_token.get_secret_value() == "cw-console-token"
