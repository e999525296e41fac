"""The Dockerfile (no Docker engine here): checked statically against what CI and the daemon use."""
from __future__ import annotations

import json
import re
from pathlib import Path

from auditor.daemon.config import HttpConfig

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_install_step_is_the_one_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text() + (ROOT / "scripts" / "test.sh").read_text()
    assert "bash scripts/bootstrap.sh" in ci
    runs = [arg for op, arg in instructions() if op == "RUN"]
    assert runs and runs[0].startswith("bash scripts/bootstrap.sh")


def test_serves_the_daemon_on_its_default_port_with_a_health_check():
    ops = dict(instructions())
    assert json.loads(ops["ENTRYPOINT"]) == ["auditor", "serve"]
    port = HttpConfig().port
    assert ops["EXPOSE"] == str(port)
    assert f"127.0.0.1:{port}/healthz" in ops["HEALTHCHECK"]
    config = json.loads(ops["CMD"])[1]
    assert (ROOT / config.removeprefix("/app/")).exists()
    assert ops["USER"] != "root"


def test_build_context_leaves_out_local_state():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".git"} <= set(ignored)
