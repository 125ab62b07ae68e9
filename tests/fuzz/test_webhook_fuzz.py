"""Property-based fuzzing of every webhook channel, at the wire: real sample bodies, mutated, signed
correctly, posted through the ASGI app into a started gateway.

Properties (see ``Harness.check``): never a 5xx; a refused webhook stores nothing; every stored event obeys
the id and text rules and loads as a bot turn. Deterministic and bounded in CI (``derandomize``, 200
examples per channel); ``make fuzz`` runs many more, randomly (``CHANNELGATE_FUZZ_EXAMPLES``,
``CHANNELGATE_FUZZ_RANDOM=1``).
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channelgate.channels.wechat.xml import parse_xml
from tests.conftest import PG_SECRET_KEY, fresh_pg_database

from .harness import Harness, running_gateway
from .samples import GBM, MESSENGER, RBM, WECHAT, WECHAT_ACCOUNT, WHATSAPP
from .strategies import build_xml, damaged, dumps, fresh_ids, mutated_trees, xml_damaged

EXAMPLES = int(os.environ.get("CHANNELGATE_FUZZ_EXAMPLES", "200"))
RANDOM = os.environ.get("CHANNELGATE_FUZZ_RANDOM") == "1"

FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=not RANDOM,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def harness(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    """One gateway per store for the whole module; PostgreSQL, which refuses NUL and checks lengths, is
    fuzzed with a third of the examples to keep CI's run under a minute."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("fuzz") / "store.db"
        with running_gateway(f"sqlite:///{path}") as h:
            yield h
        return
    with asyncio.Runner() as admin, pytest.MonkeyPatch.context() as env:
        env.setenv("CHANNELGATE_SECRET_KEY", PG_SECRET_KEY)  # a PostgreSQL store encrypts with a shared key
        database = fresh_pg_database()
        url = admin.run(database.__aenter__())
        try:
            with running_gateway(url) as h:
                h.examples = max(EXAMPLES // 3, 1)
                yield h
        finally:
            admin.run(database.__aexit__(None, None, None))


def fuzz(strategy: st.SearchStrategy[Any], post: Callable[[Any], Any], harness: Harness) -> None:
    @settings(FUZZ, max_examples=getattr(harness, "examples", EXAMPLES))
    @given(strategy)
    def one(value: Any) -> None:
        harness.check(post(value))

    one()


def json_bodies(samples: list[Any]) -> st.SearchStrategy[bytes]:
    return mutated_trees(samples).map(fresh_ids).map(dumps).flatmap(damaged)


def test_messenger(harness: Harness) -> None:
    fuzz(json_bodies(MESSENGER), lambda body: harness.meta("messenger", body), harness)


def test_whatsapp(harness: Harness) -> None:
    fuzz(json_bodies(WHATSAPP), lambda body: harness.meta("whatsapp", body), harness)


def test_gbm(harness: Harness) -> None:
    fuzz(json_bodies(GBM), harness.gbm, harness)


def test_rbm(harness: Harness) -> None:
    fuzz(json_bodies(RBM), harness.rbm, harness)


def test_rbm_envelope(harness: Harness) -> None:
    """The Pub/Sub envelope around RBM's event is untrusted too: damage it, sign what it carries."""

    def post(envelope: Any) -> Any:
        data = b""
        if isinstance(envelope, dict) and isinstance(envelope.get("message"), dict):
            value = envelope["message"].get("data")
            if isinstance(value, str):
                try:
                    data = base64.b64decode(value)
                except ValueError:
                    data = b""
        return harness.post("rbm", dumps(envelope), **{"X-Goog-Signature": _google(data)})

    samples = [
        {"message": {"data": base64.b64encode(orjson.dumps(event)).decode(), "messageId": "1"}}
        for event in RBM
    ]
    fuzz(mutated_trees(samples).map(fresh_ids), post, harness)


def _google(data: bytes) -> str:
    from channelgate.channels.google import sign

    from .harness import CLIENT_TOKEN

    return sign(data, CLIENT_TOKEN)


def wechat_fields() -> list[dict[str, str]]:
    documents = []
    for xml in WECHAT:
        fields = parse_xml(xml)
        fields["ToUserName"] = WECHAT_ACCOUNT
        documents.append(fields)
    return documents


def test_wechat(harness: Harness) -> None:
    bodies = mutated_trees(wechat_fields()).map(fresh_ids).map(build_xml).flatmap(xml_damaged)
    fuzz(bodies, harness.wechat, harness)
