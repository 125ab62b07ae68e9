"""The peer: the same WhatsApp echo bot written with pywa (installed into the bench environment only), its
sends pointed at the Graph simulator. Run by the harness as ``python -m bench.pywa_echo``."""

from __future__ import annotations

import argparse
import os
from typing import Any

import uvicorn


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--graph", required=True, help="the Graph simulator's base URL")
    parser.add_argument("--phone-id", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--verify-token", required=True)
    parser.add_argument("--app-secret", required=True)
    args = parser.parse_args()

    os.environ.setdefault("PYWA_LOG_LEVEL", "warning")  # as quiet as the gateway's log_level: warning
    from pywa_async import WhatsApp, types  # type: ignore[import-not-found]

    wa = WhatsApp(
        phone_id=args.phone_id,
        token=args.token,
        verify_token=args.verify_token,
        app_secret=args.app_secret,
        webhook_endpoint="/webhooks/whatsapp/main",
    )
    session = wa.api._session
    session.base_url = str(session.base_url).replace("https://graph.facebook.com", args.graph.rstrip("/"))

    @wa.on_message()  # type: ignore[untyped-decorator]
    async def echo(_: Any, message: types.Message) -> None:
        await message.reply_text(f"You said: {message.text}", quote=False)

    app = wa._setup_and_get_starlette_app()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
