"""The console's agent view in a real browser (headless Chromium through Playwright, as test_browser.py):
take a conversation, watch the user's message arrive in the live transcript, answer, hand back."""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest

from channelgate.testing.gateway import wait_until
from tests.console.conftest import ConsoleEnv
from tests.console.test_agent_view import PSID, messenger_conversation, sent_texts, settled
from tests.console.test_browser import CHROMIUM, browser, chromium, shot, sign_in_by_keyboard
from tests.console.test_console import add_messenger

__all__ = ["add_messenger", "browser", "chromium"]  # the fixtures, used by name

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not os.access(CHROMIUM, os.X_OK), reason=f"{CHROMIUM} is missing (apt-get install chromium)"
    ),
]


async def test_an_agent_takes_answers_and_hands_back(
    env: ConsoleEnv, alice: httpx.AsyncClient, browser: Any
) -> None:
    from playwright.async_api import expect

    cid = await messenger_conversation(env, alice)
    page = await browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: dialog.accept())
    await sign_in_by_keyboard(page, env.gw.url, "alice")

    await page.get_by_role("link", name="Agent view").click()
    await expect(page.get_by_text("Nobody is waiting.")).to_be_visible()
    await page.goto(f"{env.gw.url}/console/agent/{cid}")
    await expect(page.locator("#rules")).to_contain_text("Messenger: free-form messages within 24 hours")
    await page.get_by_label("Note (optional)").fill("wants a human")
    await page.get_by_role("button", name="Take").click()
    await expect(page.locator("#holder")).to_contain_text("a person")
    await expect(page.get_by_role("button", name="Hand back to the bot")).to_be_visible()

    # the user writes: the live transcript shows it without a reload, and the bot does not answer
    before = await settled(env, cid)
    await env.sim.deliver(
        env.gw.webhook_url("messenger", "shop"), env.sim.messenger_text(PSID, "I need help")
    )
    await expect(page.locator("#transcript")).to_contain_text("I need help")
    assert sent_texts(env) == before

    await page.get_by_label("Text").fill("Alice here, how can I help?")
    await page.get_by_role("button", name="Send").click()
    await wait_until(lambda: "Alice here, how can I help?" in sent_texts(env), timeout=10)
    await expect(page.locator("#transcript")).to_contain_text("Alice here, how can I help?")
    await shot(page, "agent-view")

    await page.get_by_role("button", name="Hand back to the bot").click()
    await expect(page).to_have_url(f"{env.gw.url}/console/agent")
    await expect(page.get_by_text("Nobody is waiting.")).to_be_visible()
    assert await env.gw.store.handoffs.holder(cid) == "bot"
    assert errors == []
