"""Setup step 3 on Meta's platforms: subscribe the app to the account's webhooks, then say what to paste.

Meta splits a webhook's setup in two. The account (a Page, a WhatsApp Business Account, an Instagram
account) must subscribe the app, which its access token can do through the Graph API
(``POST /{node}/subscribed_apps``). The callback URL and verify token belong to the app and are set in the
App Dashboard (the Graph API's ``/{app-id}/subscriptions`` would take them, but only with the app's own
token, which an integration does not hold). So ``connect`` does the first part and reads it back, and
prints the second with the values to paste.
"""

from __future__ import annotations

from collections.abc import Sequence

from channelgate.channels.base import Connection, Rejected
from channelgate.channels.meta.graph import GraphAPI


async def subscribe_app(graph: GraphAPI, node: str, fields: Sequence[str] = ()) -> list[str]:
    """Subscribe the app to ``node``'s webhooks (with ``fields`` where the product takes them), then answer
    the fields Meta reports subscribed (WhatsApp reports none: its fields live in the App Dashboard)."""
    path = f"/{node}/subscribed_apps"
    params = {"subscribed_fields": ",".join(fields)} if fields else None
    await graph.call("POST", path, params=params)
    data = await graph.call("GET", path)
    subscribed: list[str] = []
    apps = data.get("data", []) if isinstance(data, dict) else []
    for app in apps if isinstance(apps, list) else []:
        names = app.get("subscribed_fields") if isinstance(app, dict) else None
        subscribed += [str(n) for n in names or [] if str(n) not in subscribed]
    if not apps:
        raise Rejected(f"Graph accepted the subscription of {node} but lists no subscribed app")
    return subscribed


def dashboard_steps(product: str, callback_url: str, verify_token: str, fields: Sequence[str]) -> str:
    """The App Dashboard part of the setup, with the values to paste."""
    return "\n".join(
        [
            f"In the Meta App Dashboard: your app → Webhooks → product {product}:",
            f"  Callback URL: {callback_url}",
            f"  Verify token: {verify_token}",
            f"  Verify and save, then subscribe to the fields {', '.join(fields)}",
        ]
    )


def connection(head: str, wanted: Sequence[str], subscribed: Sequence[str], steps: str) -> Connection:
    """``connected`` when every wanted field is subscribed (WhatsApp wants none: its fields are the app's)."""
    missing = [f for f in wanted if f not in subscribed]
    if missing:
        head = f"{head}: subscription incomplete, missing {', '.join(missing)}"
    return Connection(not missing, f"{head}\n{steps}")
