"""The console's agent view over HTTP: conversations waiting for a person, taking one, replying with the
channel's rules shown (rendered and sent like the bot's), the transcript, handing back; roles, CSRF, the
Content-Security-Policy and the Simplified Chinese catalog as on every console page."""

from __future__ import annotations

import httpx

from channelgate.testing.gateway import wait_until
from tests.console.conftest import ConsoleEnv, csrf_of
from tests.console.test_console import INLINE_HANDLER, INLINE_SCRIPT, INLINE_STYLE, add_messenger

PSID = "PSID-AGENT-1"


async def messenger_conversation(env: ConsoleEnv, alice: httpx.AsyncClient) -> str:
    assert (await add_messenger(env, alice)).status_code == 303
    await env.sim.deliver(env.gw.webhook_url("messenger", "shop"), env.sim.messenger_text(PSID, "hi there"))
    await env.sim.wait_for_sends(1, timeout=10)
    row = await env.gw.store.conversations.find("messenger", "shop", PSID)
    return str(row["id"])


async def settled(env: ConsoleEnv, cid: str) -> list[str]:
    """The texts the user got, once nothing of the conversation waits to go out."""

    async def done() -> bool:
        return not await env.gw.store.outbox.unsent_before(cid, 2**62)

    await wait_until(done, timeout=10)
    return sent_texts(env)


def sent_texts(env: ConsoleEnv) -> list[str]:
    return [str(s.body["message"]["text"]) for s in env.sim.sent if "text" in s.body.get("message", {})]


async def test_take_reply_see_the_transcript_and_hand_back(env: ConsoleEnv, alice: httpx.AsyncClient) -> None:
    cid = await messenger_conversation(env, alice)
    queue = await alice.get("/console/agent")
    assert queue.status_code == 200
    assert "Nobody is waiting." in queue.text

    page = await alice.get(f"/console/agent/{cid}")
    assert page.status_code == 200
    assert "the bot" in page.text and "Take over" in page.text
    assert "Messenger: free-form messages within 24 hours" in page.text  # the channel's rules
    assert "Open: a reply may be sent now" in page.text
    taken = await alice.post(
        f"/console/agent/{cid}/take", data={"csrf": csrf_of(page.text), "note": "billing question"}
    )
    assert taken.status_code == 303 and taken.headers["location"] == f"/console/agent/{cid}"
    assert await env.gw.store.handoffs.holder(cid) == "agent"

    queue = await alice.get("/console/agent")
    waiting = queue.text.split('id="waiting"')[1].split("</table>")[0]
    assert f"/console/agent/{cid}" in waiting and "alice" in waiting and "billing question" in waiting
    assert "an operator took it" in waiting

    # the user's next message is the agent's, not the bot's
    before = await settled(env, cid)
    await env.sim.deliver(
        env.gw.webhook_url("messenger", "shop"), env.sim.messenger_text(PSID, "I need help")
    )
    page = await alice.get(f"/console/agent/{cid}")

    async def recorded() -> bool:
        fragment = await alice.get(f"/console/conversations/{cid}/transcript")
        return "I need help" in fragment.text

    await wait_until(recorded, timeout=10)
    assert sent_texts(env) == before

    page = await alice.get(f"/console/agent/{cid}")
    assert "billing question" in page.text and 'data-live="/console/conversations/' in page.text
    form = {"csrf": csrf_of(page.text), "text": "Alice here: <b>how</b> can I help?", "key": "k-1"}
    answer = await alice.post(f"/console/agent/{cid}/reply", data=form)
    assert answer.status_code == 303
    again = await alice.post(f"/console/agent/{cid}/reply", data=form)  # a double submit sends once
    assert again.status_code == 303
    await wait_until(lambda: "Alice here: <b>how</b> can I help?" in sent_texts(env), timeout=10)
    page = await alice.get(f"/console/agent/{cid}")
    assert "Alice here: &lt;b&gt;how&lt;/b&gt; can I help?" in page.text  # text, never markup
    assert sent_texts(env).count("Alice here: <b>how</b> can I help?") == 1

    queue = await alice.get("/console/agent")
    answered = queue.text.split('id="answered"')[1].split("</table>")[0]
    assert f"/console/agent/{cid}" in answered

    empty = await alice.post(f"/console/agent/{cid}/reply", data={"csrf": csrf_of(page.text), "text": ""})
    assert empty.status_code == 422

    back = await alice.post(f"/console/agent/{cid}/handback", data={"csrf": csrf_of(page.text)})
    assert back.status_code == 303 and back.headers["location"] == "/console/agent"
    assert await env.gw.store.handoffs.holder(cid) == "bot"
    assert f"/console/agent/{cid}" not in (await alice.get("/console/agent")).text

    late = await alice.post(
        f"/console/agent/{cid}/reply", data={"csrf": csrf_of(page.text), "text": "hello?"}
    )
    assert late.status_code == 422 and "the bot holds this conversation" in late.text


async def test_read_only_operators_see_the_queue_but_cannot_act(
    env: ConsoleEnv, alice: httpx.AsyncClient, rob: httpx.AsyncClient
) -> None:
    cid = await messenger_conversation(env, alice)
    page = await alice.get(f"/console/agent/{cid}")
    await alice.post(f"/console/agent/{cid}/take", data={"csrf": csrf_of(page.text)})
    queue = await rob.get("/console/agent")
    assert queue.status_code == 200 and f"/console/agent/{cid}" in queue.text
    page = await rob.get(f"/console/agent/{cid}")
    assert page.status_code == 200 and "hi there" in page.text
    assert "/reply" not in page.text and "/handback" not in page.text
    token = csrf_of(page.text)
    for action in ("take", "reply", "handback"):
        answer = await rob.post(f"/console/agent/{cid}/{action}", data={"csrf": token, "text": "x"})
        assert answer.status_code == 403 and "read-only" in answer.text
    forged = await alice.post(f"/console/agent/{cid}/handback", data={"csrf": "not-the-token"})
    assert forged.status_code == 403
    assert await env.gw.store.handoffs.holder(cid) == "agent"


async def test_agent_pages_are_strict_and_speak_chinese(env: ConsoleEnv, alice: httpx.AsyncClient) -> None:
    cid = await messenger_conversation(env, alice)
    for path in ("/console/agent", f"/console/agent/{cid}"):
        answer = await alice.get(path)
        assert answer.status_code == 200, path
        assert "script-src 'self'" in answer.headers["content-security-policy"]
        assert not INLINE_SCRIPT.search(answer.text), path
        assert not INLINE_HANDLER.search(answer.text), path
        assert not INLINE_STYLE.search(answer.text), path
        zh = await alice.get(path, headers={"Accept-Language": "zh-CN"})
        assert "坐席视图" in zh.text
    missing = await alice.get("/console/agent/0123abcd")
    assert missing.status_code == 404
