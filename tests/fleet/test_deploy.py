"""The recipes of deploy/: no image can be built here, so what can be run is run: the container's entry
command with its config taken from the environment, its health checks, SIGTERM; the compose file, the
Kubernetes manifest and the systemd unit are read and held to what the gateway needs."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from channelgate.channels.registry import load_registry
from channelgate.config import ConfigError, load_config
from channelgate.testing.server import free_port

from .procs import SRC, wait_ready

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
CONFIG = DEPLOY / "channelgate.yaml"
#: what the config file substitutes and has no default for, plus what the store reads itself
REQUIRED = {"CHANNELGATE_PUBLIC_URL", "CHANNELGATE_STORE", "CHANNELGATE_BOT_URL", "CHANNELGATE_SECRET_KEY"}


def required_by_config() -> set[str]:
    lines = [line for line in CONFIG.read_text().splitlines() if not line.lstrip().startswith("#")]
    return set(re.findall(r"\$\{([A-Z_]+)\}", "\n".join(lines)))


def dockerfile() -> tuple[dict[str, str], list[str], list[str]]:
    """The Dockerfile's ENV, CMD and HEALTHCHECK command."""
    text = re.sub(r"\\\n\s*", " ", (DEPLOY / "Dockerfile").read_text())
    env: dict[str, str] = {}
    cmd: list[str] = []
    health: list[str] = []
    for line in text.splitlines():
        if line.startswith("ENV "):
            env.update(dict(re.findall(r"(\w+)=(\S+)", line)))
        elif line.startswith("CMD "):
            cmd = json.loads(line[4:])
        elif line.startswith("HEALTHCHECK "):
            health = json.loads(line.split(" CMD ", 1)[1])
    return env, cmd, health


def test_the_config_takes_everything_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert required_by_config() == REQUIRED - {"CHANNELGATE_SECRET_KEY"}
    monkeypatch.setenv("CHANNELGATE_PUBLIC_URL", "https://chat.example.com")
    monkeypatch.setenv("CHANNELGATE_STORE", "postgresql://cg:pw@db:5432/cg")
    monkeypatch.setenv("CHANNELGATE_BOT_URL", "http://bot:9000/turn")
    cfg = load_config(CONFIG, load_registry())
    settings = cfg.settings
    assert (settings.public_url, settings.store) == (
        "https://chat.example.com",
        "postgresql://cg:pw@db:5432/cg",
    )
    assert (settings.host, settings.port, settings.log_format) == ("0.0.0.0", 8080, "json")
    assert str(getattr(settings.bot, "http", "")).startswith("http://bot:9000/turn")
    assert cfg.integrations == []
    monkeypatch.setenv("CHANNELGATE_PORT", "9090")
    assert load_config(CONFIG, load_registry()).settings.port == 9090
    monkeypatch.delenv("CHANNELGATE_STORE")
    with pytest.raises(ConfigError, match="CHANNELGATE_STORE is not set"):
        load_config(CONFIG, load_registry())


@pytest.mark.postgres
@pytest.mark.slow
async def test_the_container_command_serves_answers_its_health_checks_and_drains(
    pg_url: str, tmp_path: Path
) -> None:
    env_of_image, cmd, health = dockerfile()
    assert cmd == ["channelgate", "serve"] and env_of_image["CHANNELGATE_WORKERS"] == "1"
    port = free_port()
    env = {
        **os.environ,
        **env_of_image,
        "CHANNELGATE_CONFIG": str(CONFIG),  # the image copies it to /etc/channelgate/channelgate.yaml
        "CHANNELGATE_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "CHANNELGATE_STORE": pg_url,
        "CHANNELGATE_BOT_URL": "http://127.0.0.1:9/turn",
        "CHANNELGATE_PORT": str(port),
        "CHANNELGATE_WORKERS": "2",  # as compose and the manifest set it
        "PYTHONPATH": SRC,
    }
    command = [sys.executable, "-m", "channelgate", *cmd[1:]]
    log = tmp_path / "gateway.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=err, cwd=tmp_path)
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(url, proc)
        # the image's HEALTHCHECK and the compose file's, run as they are (but for the port)
        compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
        for check in (health, compose["services"]["gateway"]["healthcheck"]["test"][1:]):
            argv = [sys.executable if part == "python" else part.replace("8080", str(port)) for part in check]
            assert subprocess.run(argv, timeout=10).returncode == 0, check
        pids = set()
        for _ in range(30):
            async with httpx.AsyncClient() as client:
                pids.add((await client.get(f"{url}/readyz")).json()["pid"])
            if len(pids) == 2:
                break
            await asyncio.sleep(0.02)
        assert len(pids) == 2, "CHANNELGATE_WORKERS=2 runs two workers"
        first = json.loads(next(line for line in log.read_text().splitlines() if line.startswith("{")))
        assert first["level"] and first["message"], "log_format json from the config's default"
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0
    assert log.read_text().count("gateway stopped") == 2


def test_compose_gives_the_gateway_what_the_config_needs() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    gateway, postgres = compose["services"]["gateway"], compose["services"]["postgres"]
    assert set(gateway["environment"]) >= REQUIRED
    assert gateway["environment"]["CHANNELGATE_STORE"].startswith("postgresql://")
    assert "@postgres:5432/" in gateway["environment"]["CHANNELGATE_STORE"]
    assert gateway["depends_on"]["postgres"]["condition"] == "service_healthy" and postgres["healthcheck"]
    assert (DEPLOY / gateway["build"]["context"] / gateway["build"]["dockerfile"]).resolve() == (
        DEPLOY / "Dockerfile"
    )
    assert "/readyz" in " ".join(gateway["healthcheck"]["test"])
    assert gateway["stop_grace_period"] == "30s"


def test_the_kubernetes_manifest_probes_drains_and_keeps_one_replica() -> None:
    docs = {doc["kind"]: doc for doc in yaml.safe_load_all((DEPLOY / "kubernetes.yaml").read_text())}
    assert set(docs) == {"Deployment", "Service", "PodDisruptionBudget"}
    deployment, service, pdb = docs["Deployment"], docs["Service"], docs["PodDisruptionBudget"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"] == labels
    assert service["spec"]["selector"] == labels and pdb["spec"]["selector"]["matchLabels"] == labels
    assert deployment["spec"]["replicas"] >= 2 and pdb["spec"]["minAvailable"] == 1
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == dockerfile()[1]
    assert container["ports"][0]["containerPort"] == 8080  # the config's default port
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {e["name"] for e in container["env"]} >= REQUIRED
    # preStop + uvicorn's 15 s for requests + the gateway's 10 s drain fit in the grace period
    assert pod["terminationGracePeriodSeconds"] >= 5 + 15 + 10


def test_the_systemd_unit_runs_serve_and_drains_on_sigterm(tmp_path: Path) -> None:
    text = (DEPLOY / "channelgate.service").read_text()
    unit = dict(re.findall(r"^(\w+)=(.*)$", text, re.M))
    assert unit["ExecStart"].split()[-2:] == ["channelgate", "serve"] or unit["ExecStart"].endswith(
        "channelgate serve"
    )
    assert (unit["KillSignal"], unit["KillMode"]) == ("SIGTERM", "mixed")
    assert int(unit["TimeoutStopSec"]) >= 25 and unit["EnvironmentFile"] == "/etc/channelgate/env"
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return
    executable = shutil.which("channelgate") or str(Path(sys.executable).with_name("channelgate"))
    local = tmp_path / "channelgate.service"
    local.write_text(text.replace("/opt/channelgate/bin/channelgate", executable))
    result = subprocess.run([analyze, "verify", str(local)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
