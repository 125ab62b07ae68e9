"""The console in a real browser (Debian's Chromium, headless, driven by Playwright) against a gateway and
the Graph simulator on loopback: the issue's "done when", step by step, with the screenshots docs/console.md
shows.

Screenshots go to $CONSOLE_SCREENSHOTS (default /tmp/console-screenshots); the docs' pictures are made with
``CONSOLE_SCREENSHOTS=docs/img/console .venv/bin/pytest -m browser tests/console/test_browser.py``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from channelgate.store import admin, operators
from channelgate.testing.gateway import wait_until
from tests.console.conftest import PASSWORD, ConsoleEnv
from tests.webchat.test_browser import CHROMIUM, CHROMIUM_ARGS

SHOTS = Path(os.environ.get("CONSOLE_SCREENSHOTS", "/tmp/console-screenshots"))
TIMEOUT_MS = 15000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not os.access(CHROMIUM, os.X_OK), reason=f"{CHROMIUM} is missing (apt-get install chromium)"
    ),
]


@pytest.fixture
async def chromium() -> AsyncIterator[Any]:
    """One Chromium per test, and one Playwright driver (as the web chat's browser test does)."""
    from playwright.async_api import async_playwright, expect

    expect.set_options(timeout=TIMEOUT_MS)
    SHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def browser(env: ConsoleEnv, chromium: Any) -> AsyncIterator[Any]:
    context = await chromium.new_context(viewport={"width": 1100, "height": 900}, locale="en-US")
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=env.gw.url)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context
    finally:
        await context.close()


async def shot(page: Any, name: str) -> None:
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def sign_in_by_keyboard(page: Any, url: str, name: str) -> None:
    """Sign in with the keyboard only: the name field has focus, Tab moves to the password, Enter sends."""
    from playwright.async_api import expect

    await page.goto(f"{url}/console")
    await expect(page).to_have_url(f"{url}/console/login")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await expect(page.get_by_label("Name")).to_be_focused()
    await page.keyboard.type(name)
    await page.keyboard.press("Tab")
    await expect(page.get_by_label("Password")).to_be_focused()
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Integrations")).to_be_visible()


async def test_set_up_messenger_test_it_watch_a_transcript_and_replay_a_dead_letter(
    env: ConsoleEnv, browser: Any
) -> None:
    from playwright.async_api import expect

    await operators.add_operator(env.gw.store, "alice", PASSWORD, "full")
    page = await browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    await page.goto(f"{env.gw.url}/console")
    await shot(page, "1-sign-in")
    await sign_in_by_keyboard(page, env.gw.url, "alice")

    # step 1: add a Messenger integration pointed at the Graph simulator
    await page.get_by_role("link", name="Add an integration").click()
    await page.get_by_label("Channel").select_option("messenger")
    await page.get_by_role("button", name="Choose").click()
    cfg = env.messenger_config("shop")
    await page.get_by_label("Label").fill("shop")
    await page.get_by_label("app_secret").fill(cfg["app_secret"])
    await page.get_by_label("page_access_token").fill(cfg["page_access_token"])
    await page.get_by_label("api_base_url").fill(cfg["api_base_url"])
    await shot(page, "2-add-messenger")
    await page.get_by_role("button", name="Add the integration").click()
    await expect(page.get_by_text("The integration is added and serving its callback URL.")).to_be_visible()

    # step 2: copy the callback URL (and see the verify token) for the platform's webhook settings
    callback = f"{env.gw.url}/webhooks/messenger/shop"
    await expect(page.locator("#callback-url")).to_have_text(callback)
    await page.locator("button[data-copy='callback-url']").click()
    assert await page.evaluate("navigator.clipboard.readText()") == callback
    stored = await admin.stored_integration(env.gw.store, "messenger", "shop")
    assert stored is not None
    await expect(page.locator("#setup-verify_token")).to_have_text(stored["config"]["verify_token"])
    check = await env.sim.verify(callback, stored["config"]["verify_token"])
    assert check.status_code == 200

    # step 3: send a test and see the bot's echo, as Messenger renders it
    await page.get_by_label("Message", exact=True).fill("ping from the browser")
    await page.get_by_role("button", name="Send a test").click()
    await expect(page.get_by_text("You said: ping from the browser", exact=True)).to_be_visible()
    await shot(page, "3-setup-and-test")
    assert any(
        s.body.get("message", {}).get("text") == "You said: ping from the browser" for s in env.sim.sent
    )

    # a live transcript: a signed webhook arrives while the page is open, and shows without a reload
    hook = env.gw.webhook_url("messenger", "shop")
    await env.sim.deliver(hook, env.sim.messenger_text("PSID-live", "first words"))
    await wait_until(lambda: env.gw.store.conversations.find("messenger", "shop", "PSID-live"), timeout=10)
    await page.get_by_role("link", name="Conversations").click()
    await page.get_by_role("link", name="PSID-live").click()
    await expect(page.get_by_text("You said: first words", exact=True)).to_be_visible()
    await env.sim.deliver(hook, env.sim.messenger_text("PSID-live", "<b>are you there?</b>"))
    await expect(page.get_by_text("<b>are you there?</b>", exact=True)).to_be_visible()
    await expect(page.get_by_text("You said: <b>are you there?</b>", exact=True)).to_be_visible()
    assert await page.locator("#transcript b").count() == 0  # the user's text is text, not markup
    await expect(page.get_by_text("Open: a free-form message may be sent now")).to_be_visible()
    await shot(page, "4-live-transcript")

    # fail a send on purpose (Graph answers 503 until it is past its retry budget), then replay it
    env.sim.outage(600, status=503)
    await env.sim.deliver(hook, env.sim.messenger_text("PSID-live", "this one fails"))

    async def dead() -> bool:
        rows = await admin.dead_letters(env.gw.store, channel=None, label=None, limit=5, after_id=None)
        return len(rows) == 1

    await wait_until(dead, timeout=20)
    env.sim.outage(0)
    await expect(
        page.get_by_text("You said: this one fails", exact=True)
    ).to_be_visible()  # shown failed, live
    await page.get_by_role("link", name="Dead letters").click()
    row = page.get_by_role("row").filter(has_text="You said: this one fails")
    await expect(row).to_contain_text("Service temporarily unavailable")
    await row.get_by_role("checkbox").check()
    await shot(page, "5-dead-letters")
    before = len(env.sim.sent)
    await page.get_by_role("button", name="Replay selected").click()
    await expect(page.get_by_text("Queued again:")).to_be_visible()
    await expect(page.get_by_text("No dead letters.")).to_be_visible()
    await wait_until(
        lambda: any(
            s.body.get("message", {}).get("text") == "You said: this one fails" for s in env.sim.sent[before:]
        ),
        timeout=10,
    )

    # the overview's charts, and the Send page with each channel's window rules
    await page.get_by_role("link", name="Overview").click()
    await expect(page.get_by_role("heading", name="messenger")).to_be_visible()
    await expect(page.locator("#ch-messenger + figure polyline")).to_have_count(1)
    await shot(page, "9-overview")
    await page.get_by_role("link", name="Send", exact=True).click()
    await expect(
        page.get_by_text("Messenger: free-form messages within 24 hours", exact=False)
    ).to_be_visible()
    await page.get_by_label("Integration").first.select_option("messenger/shop")
    await page.get_by_label("User id (the platform's)").fill("PSID-live")
    await page.locator("#one-text").fill("A person here: your order ships today.")
    await page.get_by_role("button", name="Send the message").click()
    await expect(page.get_by_text("A person here: your order ships today.", exact=True)).to_be_visible()
    await shot(page, "10-sent-by-an-operator")

    # on a phone
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.get_by_role("link", name="Integrations").click()
    await expect(page.get_by_text(callback)).to_be_visible()
    await shot(page, "6-phone")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the page scrolls sideways on a phone"
    assert errors == []


async def test_a_read_only_operator_cannot_change_anything(env: ConsoleEnv, browser: Any) -> None:
    from playwright.async_api import expect

    await operators.add_operator(env.gw.store, "rob", PASSWORD, "read")
    page = await browser.new_page()
    await sign_in_by_keyboard(page, env.gw.url, "rob")
    await expect(page.get_by_text("read-only", exact=True)).to_be_visible()
    await expect(page.get_by_role("link", name="Add an integration")).to_have_count(0)
    await page.get_by_role("link", name="webchat/site").click()
    await expect(page.get_by_text("This integration is defined in the config file")).to_be_visible()
    await expect(page.get_by_role("button", name="Send a test")).to_have_count(0)
    await expect(page.get_by_role("button", name="Save")).to_have_count(0)
    await expect(page.locator("form[method=post]")).to_have_count(1)  # signing out only
    await shot(page, "7-read-only")
    csrf = await page.locator("form[action='/console/logout'] input[name=csrf]").input_value()
    # the browser's own session, with its valid CSRF token, still may not change anything
    for path in (
        "/console/integrations/new",
        "/console/dead-letters",
        "/console/integrations/webchat/site/delete",
    ):
        answer = await page.request.post(
            f"{env.gw.url}{path}",
            form={"csrf": csrf, "channel": "messenger", "label": "x", "action": "replay"},
        )
        assert answer.status == 403, path
    assert set(env.gw.gateway.integrations) == {("webchat", "site")}


async def test_the_console_speaks_simplified_chinese(env: ConsoleEnv, chromium: Any) -> None:
    from playwright.async_api import expect

    await operators.add_operator(env.gw.store, "alice", PASSWORD, "full")
    context = await chromium.new_context(viewport={"width": 1100, "height": 700}, locale="zh-CN")
    try:
        page = await context.new_page()
        await page.goto(f"{env.gw.url}/console/login")
        await page.get_by_label("名称").fill("alice")
        await page.get_by_label("密码", exact=True).fill(PASSWORD)
        await page.get_by_role("button", name="登录", exact=True).click()
        await expect(page.get_by_role("heading", name="集成")).to_be_visible()
        await expect(page.get_by_text("回调 URL").first).to_be_visible()
        await shot(page, "8-zh-Hans")
    finally:
        await context.close()
