"""Two real replicas on one PostgreSQL, webhooks for many users sent to both at random and web chat
messages to sockets on both, one SIGKILLed mid-stream and restarted (issue 16, "Done when"): every
acknowledged message is answered once (a web chat user whose socket died reconnects to a live replica
with the same identity and gets its replies there), each user's replies come in the order of their
messages, no turn is run by both replicas (but the one the kill cut off, run again by whoever took the
conversation over, and one whose worker stalled past its lease, whose late answer is refused), and the
fleet's sends never exceed the integration's rate limit (each replica spends its share of it,
shares.py), through the kill and the restart."""

from __future__ import annotations

import asyncio
import random
import re
import signal
import subprocess
import time
from collections import Counter, defaultdict
from pathlib import Path

import httpx
import pytest

from channelgate.testing.server import free_port, serve_app
from tests.core.relay_peer import RelayPeer, deliver, event

from .procs import bot_calls, drain, environment, serve, turns_per_pid, wait_ready, write_config
from .webchat_user import WebChatUser, all_answered

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

USERS = 24
PER_USER = 12
MESSAGES = USERS * PER_USER
#: web chat users, half with their socket on each replica (webchat_user.py), PER_USER messages each
WEB_USERS = 6
#: the web chat; its per-address limits are raised, as every test user comes from 127.0.0.1
WEBCHAT = (
    "{channel: webchat, label: site, locale: en-US, secret: fleet-test-webchat-token-secret-0123456789, "
    "limits: {inputs_per_address: 500, input_burst_per_address: 500}}"
)
#: the integration's rate limit (sends per second); its burst is one second's worth (lanes.py). Below
#: what the two replicas' turns produce (~30 replies a second here), so that the limit is what paces them
RATE = 15
#: tokens of slack for the time between a replica taking its token and the peer stamping the send's
#: arrival: a quarter second's worth. The stamps are taken in this test's own event loop, which also runs
#: the 24 users; when it stalls, sends queue and are stamped together (2.4 tokens below empty once in 19
#: runs on a machine with load 6). It absorbs that, not a second replica's share: with per-process limits
#: the bucket went 49 below empty.
JITTER = RATE / 4


def lowest_tokens(arrivals: list[float], rate: float, burst: float) -> float:
    """Run the arrivals through a token bucket of the limit (full at the start, like the platform's): the
    lowest it went after a send (below 0: the limit was exceeded by that many sends)."""
    tokens, last, lowest = burst, None, burst
    for at in sorted(arrivals):
        if last is not None:
            tokens = min(burst, tokens + (at - last) * rate)
        last = at
        tokens -= 1
        lowest = min(lowest, tokens)
    return lowest


async def test_sigkill_one_of_two_replicas_loses_nothing_doubles_nothing(pg_url: str, tmp_path: Path) -> None:
    rng = random.Random(16)
    peer = RelayPeer()
    peer.delay = 0.005
    bot_log = tmp_path / "bot.log"
    bot_log.touch()
    env = environment(bot_log)
    ports = {"a": free_port(), "b": free_port()}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    killed: list[int] = []
    acked: dict[str, list[int]] = defaultdict(list)  # user -> message numbers, in acknowledgement order
    redelivered = 0
    restarted = asyncio.Event()

    async with serve_app(peer.app) as peer_url:
        configs = {
            name: write_config(
                tmp_path / f"{name}.yaml",
                port=port,
                store=pg_url,
                peer_url=peer_url,
                integration=f", rate_limit: {RATE}",
                more_integrations=(WEBCHAT,),
            )
            for name, port in ports.items()
        }
        for name in ("a", "b"):  # one after the other: the second finds the schema made
            procs[name] = serve(configs[name], env, log=tmp_path / f"{name}.log")
            await wait_ready(urls[name], procs[name])
        web = [WebChatUser(n, urls, random.Random(n)) for n in range(WEB_USERS)]
        try:
            for n, browser in enumerate(web):
                await browser.connect(["ab"[n % 2]])
            async with httpx.AsyncClient(timeout=5) as client:

                async def user(u: int) -> None:
                    """One user's messages, each sent once its predecessor was acknowledged (as a platform
                    delivers them), to either replica at random; a failed delivery is retried."""
                    nonlocal redelivered
                    for k in range(PER_USER):
                        if k == PER_USER * 2 // 3:  # the last third goes to the restarted replica too
                            await restarted.wait()
                        body = event(f"u{u}-m{k}", f"user{u}", f"u{u} m{k}")
                        deadline = time.monotonic() + 60
                        while True:
                            url = urls[rng.choice("ab")]
                            try:
                                answer = await deliver(client, f"{url}/webhooks/relay/main", body)
                                if answer.status_code == 200:
                                    break
                                assert answer.status_code == 503, answer.text  # backpressure only
                            except httpx.HTTPError:
                                pass  # a dead replica: the platform redelivers
                            redelivered += 1
                            assert time.monotonic() < deadline, f"user{u} m{k} never acknowledged"
                            await asyncio.sleep(0.05)
                        acked[f"user{u}"].append(k)
                        await asyncio.sleep(rng.uniform(0.02, 0.1))

                async def killer() -> None:
                    # a quarter in, and once a ran turns of its own: on a loaded machine its first ones
                    # may all have been picked up by b's poll first (seen: a ran none, 1 run in 8)
                    while (
                        sum(map(len, acked.values())) < MESSAGES // 4
                        or turns_per_pid(bot_log)[procs["a"].pid] == 0
                    ):
                        await asyncio.sleep(0.01)
                    killed.append(procs["a"].pid)
                    procs["a"].send_signal(signal.SIGKILL)  # mid-stream: turns and sends in flight
                    procs["a"].wait()
                    await asyncio.sleep(0.5)
                    procs["a"] = serve(configs["a"], env, log=tmp_path / "a.log")
                    await wait_ready(urls["a"], procs["a"])
                    restarted.set()

                await asyncio.gather(
                    killer(),
                    *[user(u) for u in range(USERS)],
                    *[browser.send_all(PER_USER, restarted, at=PER_USER * 2 // 3) for browser in web],
                )
            await asyncio.gather(peer.wait_for(MESSAGES, timeout=60), all_answered(web, PER_USER, timeout=60))
            await asyncio.sleep(0.5)  # anything sent twice would arrive now
        finally:
            for browser in web:
                await browser.close()
            codes = drain(list(procs.values()))
    # uvicorn ends by the signal it caught (-15) once its graceful shutdown is done (None: it did not end
    # within 30 s of SIGTERM and was killed)
    assert set(codes) <= {0, -signal.SIGTERM}, codes
    for name in ("a", "b"):
        assert (tmp_path / f"{name}.log").read_text().rstrip().endswith("gateway stopped"), name
    assert len(killed) == 1 and redelivered > 0, "the kill should land mid-stream"

    # every acknowledged message answered exactly once
    replies = Counter(r["message"]["text"] for r in peer.received)
    assert replies == Counter({f"echo: u{u} m{k}": 1 for u in range(USERS) for k in range(PER_USER)})
    # the web chat users: every message acknowledged, and answered once, in order, on whichever socket
    # they had (deduplicated by message id, as the widget does; a reply under two ids is a double answer)
    for browser in web:
        assert browser.acked == list(range(PER_USER)), browser.name
        assert browser.replies == [f"echo: {browser.text(k)}" for k in range(PER_USER)], browser.name
    print(
        f"web chat: {sum(b.reconnects for b in web)} reconnects after a dropped socket, "
        f"{sum(b.retried for b in web)} inputs sent again, on {[b.replica for b in web]} at the end"
    )
    assert any(browser.reconnects for browser in web), "the kill should drop web chat sockets on a"
    # each user's replies in the order of their messages
    for u in range(USERS):
        got = [r["message"]["text"] for r in peer.received if r["to"] == f"user{u}"]
        assert got == [f"echo: u{u} m{k}" for k in range(PER_USER)], f"user{u}'s replies out of order"
    # both replicas did work, and no turn ran on both, but those the kill cut off
    calls = bot_calls(bot_log)
    pids_per_turn: dict[str, set[int]] = defaultdict(set)
    for pid, turn, _ in calls:
        pids_per_turn[turn].add(pid)
    ran = Counter(pid for pid, _, _ in calls)
    assert set(ran) == {killed[0], *(p.pid for p in procs.values())}, "a, b and the restarted a ran turns"
    doubled = {turn: pids for turn, pids in pids_per_turn.items() if len(pids) > 1}
    # A turn runs twice only when its first worker was killed, or stalled past its lease (2 s here; on a
    # loaded machine it happens): then the claim that took it over answers, and the stalled worker's
    # commit is refused and logged (pipeline.py). Either way it was answered once (checked above).
    logs = "".join((tmp_path / f"{name}.log").read_text() for name in ("a", "b"))
    lost = set(re.findall(r"lease lost during turn (\d+)", logs))
    assert all(killed[0] in pids or turn in lost for turn, pids in doubled.items()), (doubled, lost)
    assert len(doubled) <= USERS + WEB_USERS, (
        doubled
    )  # at most one turn per conversation was in flight at the kill
    texts = {f"u{u} m{k}" for u in range(USERS) for k in range(PER_USER)}
    assert {text for _, _, text in calls} == texts | {b.text(k) for b in web for k in range(PER_USER)}
    # the fleet kept to the rate limit (each replica's share of it paced its sends: ~30 replies a second
    # are ready, 15 may go); per-process limits would have sent twice the limit, see the check's own test
    assert len(peer.arrivals) >= MESSAGES
    arrivals = sorted(peer.arrivals)
    (tmp_path / "arrivals.txt").write_text("".join(f"{t:.4f}\n" for t in arrivals))  # for a post-mortem
    peak = max(sum(1 for t in arrivals[i:] if t < start + 1.0) for i, start in enumerate(arrivals))
    lowest = lowest_tokens(arrivals, RATE, RATE)
    print(
        f"fleet sends: {len(arrivals)} in {arrivals[-1] - arrivals[0]:.2f} s, at most {peak} in one second; "
        f"the limit's bucket went down to {lowest:.2f} tokens"
    )
    assert lowest >= -JITTER, f"the fleet sent over its {RATE}/s limit: {-lowest:.1f} sends too many"


def test_the_rate_check_catches_two_replicas_each_sending_the_whole_limit() -> None:
    one = [i / RATE for i in range(4 * RATE)]  # one replica at the limit for 4 s: within it
    assert lowest_tokens(one, RATE, RATE) >= 0
    two = sorted(one + [t + 0.003 for t in one])  # a second one at the whole limit too (per-process limits)
    assert lowest_tokens(two, RATE, RATE) < -10 * JITTER
