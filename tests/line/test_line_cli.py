"""The CLI with LINE: ``channels add line`` asks for (or takes) the two secrets and never prints them, and
``channels connect line/LABEL`` sets the simulator's webhook endpoint and reports LINE's webhook test."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from typer.testing import CliRunner

from channelgate.cli import app
from channelgate.testing.line import LineSimulator
from channelgate.testing.server import free_port

runner = CliRunner()
SRC = str(Path(__file__).resolve().parents[2] / "src")


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_channels_add_line_asks_for_both_secrets_and_keeps_them_out_of_the_output(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text("public_url: https://bot.example.com\nintegrations: []\n")
    code, out = run("channels", "add", "line", "--label", "shop", "--config", str(path))
    assert code == 2 and "channel_secret" in out and "--set channel_secret=" in out
    code, out = run(
        "channels", "add", "line", "--label", "shop", "--set", "channel_secret=abcdef0123456789",
        "--set", "channel_access_token=token-0123456789abcdef", "--config", str(path),
    )  # fmt: skip
    assert code == 0, out
    assert "https://bot.example.com/webhooks/line/shop" in out
    assert "abcdef0123456789" not in out and "token-0123456789abcdef" not in out
    code, out = run("channels", "list", "--json", "--config", str(path))
    [row] = json.loads(out)
    assert (row["channel"], row["label"]) == ("line", "shop")


async def test_channels_connect_sets_the_endpoint_and_reports_the_test(
    sim: LineSimulator, api_url: str, tmp_path: Path
) -> None:
    public = f"http://127.0.0.1:{free_port()}"  # nothing listens: LINE's test cannot connect
    path = tmp_path / "gw.yaml"
    path.write_text(
        f"public_url: {public}\nstore: sqlite:///{tmp_path}/store.db\nintegrations:\n"
        f"  - {{channel: line, label: shop, channel_secret: {sim.channel_secret}, "
        f"channel_access_token: {sim.access_token}, api_base_url: {api_url}}}\n"
    )
    env = {**os.environ, "PYTHONPATH": SRC}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "channelgate", "channels", "connect", "line/shop", "--config", str(path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    text = out.decode()
    assert process.returncode == 0, text
    assert sim.webhook["endpoint"] == f"{public}/webhooks/line/shop"
    assert "line/shop: set the webhook by hand" in text and "LINE's webhook test failed" in text
    assert sim.access_token not in text
