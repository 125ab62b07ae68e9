"""The web chat in a real browser: Debian's Chromium, headless, driven by Playwright, against the demo bot.

The machine is offline, so the demo bot's sample images (picsum.photos) are answered by the test with a
generated picture; everything else the page loads comes from the gateway itself.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from channelgate.testing.gateway import RunningGateway, run_gateway
from channelgate.testing.server import serve_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = Path(os.environ.get("WEBCHAT_SCREENSHOT", "/tmp/webchat.png"))
TIMEOUT_MS = 5000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not os.access(CHROMIUM, os.X_OK), reason=f"{CHROMIUM} is missing (apt-get install chromium)"
    ),
]


def sample_png(width: int = 600, height: int = 400) -> bytes:
    """A gradient picture, standing in for the demo bot's photos."""
    rows = b"".join(
        b"\x00" + b"".join(bytes((40 + x * 150 // width, 90 + y * 100 // height, 200)) for x in range(width))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[RunningGateway]:
    config = {
        "bot": "demo",
        "store": f"sqlite:///{tmp_path}/browser.db",
        "pipeline": {"poll_interval": 0.05},
        "integrations": [{"channel": "webchat", "label": "site", "locale": "en-US", "title": "Demo shop"}],
    }
    async with run_gateway(config) as gw:
        yield gw


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    picture = sample_png()
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await chromium.new_context(viewport={"width": 900, "height": 900}, locale="en-US")
        context.set_default_timeout(TIMEOUT_MS)
        await context.route(
            "https://picsum.photos/**", lambda route: route.fulfill(body=picture, content_type="image/png")
        )
        try:
            yield context
        finally:
            await context.close()
            await chromium.close()


async def stored_state(page: Any) -> dict[str, Any]:
    """The widget's localStorage entry (identity, transcript, pending inputs)."""
    state: dict[str, Any] = await page.evaluate(
        """() => {
            const key = Object.keys(localStorage).find(k => k.startsWith("channelgate.webchat:"));
            return key ? JSON.parse(localStorage.getItem(key)) : null;
        }"""
    )
    return state


async def test_card_button_gets_the_bots_answer_and_a_reload_keeps_the_conversation(
    demo: RunningGateway, browser: Any
) -> None:
    from playwright.async_api import expect

    page = await browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{demo.url}/webchat/site")
    await expect(page.get_by_role("heading", name="Demo shop")).to_be_visible()

    message = page.get_by_role("textbox", name="Message")
    await message.fill("card")
    await message.press("Enter")
    card = page.get_by_role("article", name="channelgate")
    await expect(card).to_be_visible()
    await expect(card.get_by_role("img", name="A sample photo")).to_be_visible()
    await expect(card.get_by_role("link", name="Open website")).to_have_attribute(
        "href", "https://example.com/"
    )
    await expect(card.get_by_role("link", name="Call us (+15555550100)")).to_have_attribute(
        "href", "tel:+15555550100"
    )

    await card.get_by_role("button", name="Tell me more").click()
    answer = page.get_by_text("You picked Tell me more.")
    await expect(answer).to_be_visible()
    before = await stored_state(page)
    assert before["pending"] == []
    await page.screenshot(path=str(SCREENSHOT), full_page=True)

    await page.reload()
    await expect(page.get_by_text("You picked Tell me more.")).to_be_visible()
    await expect(page.get_by_role("article", name="channelgate")).to_be_visible()
    after = await stored_state(page)
    assert after["user_id"] == before["user_id"] and after["user_id"].startswith("wc-")
    # the server still knows this browser as the same user: one conversation, whose last reply came back
    await message.fill("still me?")
    await message.press("Enter")
    await expect(page.get_by_text("You said: still me?")).to_be_visible()
    conversation = await demo.store.conversations.find("webchat", "site", before["user_id"])
    inbox = await demo.store.inbox.rows(conversation["id"])
    assert [row["input"].get("text") or row["input"].get("payload") for row in inbox] == [
        "card",
        "CARD_MORE",
        "still me?",
    ]
    assert errors == []


async def test_embedded_launcher_on_another_site_shows_quick_replies_and_removes_them_after_a_tap(
    demo: RunningGateway, browser: Any
) -> None:
    from playwright.async_api import expect

    widget = f"{demo.url}/webchat/site/widget.js"

    async def shop(request: Request) -> HTMLResponse:
        return HTMLResponse(
            "<!doctype html><html lang=en><head><title>Shop</title>"
            "<style>button { background: hotpink !important; }</style></head>"
            f"<body><h1>A shop</h1><script src='{widget}' defer></script></body></html>"
        )

    async with serve_app(Starlette(routes=[Route("/", shop)])) as shop_url:
        page = await browser.new_page()
        await page.set_viewport_size({"width": 390, "height": 780})
        # localhost, not 127.0.0.1: another origin than the gateway's, allowed by the loopback default
        await page.goto(shop_url.replace("127.0.0.1", "localhost"))
        launcher = page.get_by_role("button", name="Open the chat: Chat")
        await launcher.click()
        await expect(page.get_by_role("heading", name="Demo shop")).to_be_visible()
        message = page.get_by_role("textbox", name="Message")
        await message.fill("quick")
        await page.get_by_role("button", name="Send").click()
        chips = page.get_by_role("group", name="Suggested replies")
        await expect(chips.get_by_role("button")).to_have_text(["Red", "Green", "Blue"])
        await page.screenshot(path=str(SCREENSHOT.with_name("webchat-embedded.png")))
        await chips.get_by_role("button", name="Green").click()
        await expect(page.get_by_text("You picked Green.")).to_be_visible()
        await expect(chips).to_be_hidden()
        # the host page's styles do not reach into the widget
        colour = await page.get_by_role("button", name="Send").evaluate(
            "b => getComputedStyle(b).backgroundColor"
        )
        assert colour != "rgb(255, 105, 180)"
        await page.close()  # before its server stops: an open page would hold the shutdown


async def test_every_universal_type_renders_with_accessible_markup(
    demo: RunningGateway, browser: Any
) -> None:
    from playwright.async_api import expect

    page = await browser.new_page()
    await page.set_viewport_size({"width": 900, "height": 3400})
    await page.goto(f"{demo.url}/webchat/site")
    message = page.get_by_role("textbox", name="Message")
    log = page.get_by_role("log", name="Conversation")

    async def command(text: str) -> None:
        await message.fill(text)
        await message.press("Enter")

    await command("text")
    await expect(log.get_by_role("link", name="https://example.com")).to_have_attribute(
        "href", "https://example.com/"
    )
    await command("media")
    await expect(log.get_by_role("img", name="An image with a caption")).to_be_visible()
    await command("carousel")
    carousel = log.get_by_role("group", name="Carousel of 3 cards")
    await expect(carousel.get_by_role("article")).to_have_count(3)
    await expect(carousel.get_by_role("img", name="Photo 2")).to_have_count(1)
    await command("list")
    await expect(log.get_by_role("list", name="See plans").get_by_role("button")).to_have_count(3)
    await expect(log.get_by_text("You can change it later")).to_be_visible()
    await command("location")
    osm = "https://www.openstreetmap.org/?mlat=48.8584&mlon=2.2945#map=16/48.8584/2.2945"
    await expect(log.get_by_role("link", name="Open the map")).to_have_attribute("href", osm)
    await expect(log.get_by_text("Eiffel Tower")).to_be_visible()
    await command("template")
    await expect(log.get_by_text("hello_world")).to_be_visible()
    await command("channel")
    await expect(log.get_by_text("This channel has no special version")).to_be_visible()
    await command("brief")
    brief = log.get_by_role("article", name="A message in the brief's rich format")
    await expect(brief.get_by_role("button", name="Like")).to_be_visible()
    await expect(page.get_by_role("group", name="Suggested replies").get_by_role("button")).to_have_text(
        ["Menu"]
    )
    await page.screenshot(path=str(SCREENSHOT.with_name("webchat-all.png")))

    await log.get_by_role("list", name="See plans").get_by_role("button", name="Team").click()
    await expect(log.get_by_text("You picked Team.")).to_be_visible()
    # bot text is text: markup in it is shown, never parsed
    await command("<img src=x onerror=alert(1)>")
    await expect(log.get_by_text("You said: <img src=x onerror=alert(1)>")).to_be_visible()
    await expect(log.locator("img[src='x']")).to_have_count(0)
