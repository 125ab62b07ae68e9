"""``channelgate channels connect`` on Messenger and WhatsApp: the app subscribed through the Graph API
(simulated), and the App Dashboard's part given as steps with the values to paste."""

from __future__ import annotations

import pytest
from metakit import messenger, whatsapp

from channelgate.channels.base import InvalidCredentials
from channelgate.channels.http import PlatformHTTP
from channelgate.channels.messenger.channel import PAGE_FIELDS
from channelgate.testing.graph import GraphSimulator

TOKEN = "EAAG-sim-token"


async def test_messenger_subscribes_the_page_and_says_what_to_paste(
    sim: GraphSimulator, graph_url: str, http: PlatformHTTP
) -> None:
    channel = messenger(http, page_access_token=TOKEN, api_base_url=graph_url, page_id=sim.page_id)
    result = await channel.connect()
    assert sim.subscriptions == {sim.page_id: list(PAGE_FIELDS)}
    assert result.connected
    assert f"Callback URL: {channel.ctx.callback_url}" in result.detail
    assert "Verify token: my_verify_token" in result.detail


async def test_messenger_without_page_id_subscribes_the_page_of_its_token(
    sim: GraphSimulator, graph_url: str, http: PlatformHTTP
) -> None:
    result = await messenger(http, page_access_token=TOKEN, api_base_url=graph_url).connect()
    assert result.connected and list(sim.subscriptions) == ["me"]


async def test_a_refused_token_is_the_error_graph_means(
    sim: GraphSimulator, graph_url: str, http: PlatformHTTP
) -> None:
    with pytest.raises(InvalidCredentials):
        await messenger(http, page_access_token="EAAG-wrong", api_base_url=graph_url).connect()
    assert sim.subscriptions == {}


async def test_whatsapp_subscribes_the_business_account(
    sim: GraphSimulator, graph_url: str, http: PlatformHTTP
) -> None:
    channel = whatsapp(
        http, access_token=TOKEN, api_base_url=graph_url, business_account_id=sim.business_account_id
    )
    result = await channel.connect()
    assert sim.subscriptions == {sim.business_account_id: []}
    assert result.connected
    assert "subscribe to the fields messages" in result.detail


async def test_whatsapp_without_its_account_id_gives_the_steps_only(
    sim: GraphSimulator, graph_url: str, http: PlatformHTTP
) -> None:
    result = await whatsapp(http, access_token=TOKEN, api_base_url=graph_url).connect()
    assert not result.connected and "Set business_account_id" in result.detail
    assert sim.subscriptions == {}
