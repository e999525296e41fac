"""The dependency lock (requirements/lock.txt), the pip-audit allow-list and scripts/audit_dependencies.py's
decisions, with a stand-in for pip-audit: no network."""
from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "lock.txt"
ALLOWLIST = ROOT / "requirements" / "pip-audit-allowlist.txt"
SCRIPT = ROOT / "scripts" / "audit_dependencies.py"
PY311_LINUX = {"python_version": "3.11", "python_full_version": "3.11.0", "sys_platform": "linux",
               "platform_system": "Linux", "os_name": "posix", "implementation_name": "cpython",
               "platform_python_implementation": "CPython"}

_spec = importlib.util.spec_from_file_location("audit_dependencies", SCRIPT)
audit = importlib.util.module_from_spec(_spec)
sys.modules["audit_dependencies"] = audit  # dataclasses look their module up while the class is built
_spec.loader.exec_module(audit)


PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def declared() -> list[Requirement]:
    extras = PROJECT["optional-dependencies"]
    return [Requirement(r) for r in PROJECT["dependencies"] + extras["test"] + extras["demo"]]


def test_moto_is_an_extra_that_the_tests_install_too():
    extras = PROJECT["optional-dependencies"]
    assert not [r for r in PROJECT["dependencies"] if canonicalize_name(Requirement(r).name) in ("moto", "requests")]
    assert "moto==5.2.5" in extras["demo"] and set(extras["demo"]) <= set(extras["test"])
    assert {"flask", "flask-cors"} <= {canonicalize_name(Requirement(r).name) for r in extras["demo"]}   # moto's server
    assert "--extra test --extra demo" in (ROOT / "scripts" / "lock.sh").read_text()


def test_lock_pins_every_declared_dependency_within_its_specifier():
    locked = audit.parse_lock(LOCK)
    requirements = declared()
    assert "bcrypt" in {canonicalize_name(r.name) for r in requirements}
    problems = []
    for req in requirements:
        if req.marker is not None and not req.marker.evaluate({**PY311_LINUX, "extra": "test"}):
            continue
        version = locked.get(canonicalize_name(req.name))
        if version is None:
            problems.append(f"{req} is not in the lock")
        elif not req.specifier.contains(Version(version), prereleases=True):
            problems.append(f"{req}: the lock pins {version}")
    assert not problems, "run scripts/lock.sh: " + "; ".join(problems)


def test_lock_is_exact_pins_with_valid_versions():
    locked = audit.parse_lock(LOCK)
    assert len(locked) > len(declared())  # transitive dependencies are pinned too
    for name, version in locked.items():
        assert name == canonicalize_name(name)
        Version(version)
    assert "scripts/lock.sh" in LOCK.read_text().split("\n\n", 1)[0]


def test_bootstrap_installs_with_the_lock_and_reinstalls_when_it_changes():
    bootstrap = (ROOT / "scripts" / "bootstrap.sh").read_text()
    assert "LOCK=requirements/lock.txt" in bootstrap
    assert '-c "$LOCK" -e ".[test]"' in bootstrap
    assert 'cat pyproject.toml "$LOCK" | sha256sum' in bootstrap
    test_sh = (ROOT / "scripts" / "test.sh").read_text()
    assert test_sh.index("bash scripts/audit-dependencies.sh") < test_sh.index("python -m pytest")


def test_allowlist_parses():
    entries = audit.parse_allowlist(ALLOWLIST, audit.parse_lock(LOCK))
    assert len({e.vuln_id for e in entries}) == len(entries)


def test_allowlist_entry_fields(tmp_path):
    path = tmp_path / "allow.txt"
    path.write_text("# accepted\n\nGHSA-9wx4-h78v-vm56  Requests  only our own endpoints, no proxies, 2024-06-01\n"
                    "PYSEC-2023-74 jinja2 sandbox unused, 2024-01-02\n")
    entries = audit.parse_allowlist(path, {"requests": "2.34.2", "jinja2": "3.1.6"}, today=dt.date(2026, 1, 1))
    assert [(e.vuln_id, e.package, e.reason, e.accepted, e.line) for e in entries] == [
        ("GHSA-9wx4-h78v-vm56", "requests", "only our own endpoints, no proxies", dt.date(2024, 6, 1), 3),
        ("PYSEC-2023-74", "jinja2", "sandbox unused", dt.date(2024, 1, 2), 4)]


@pytest.mark.parametrize(("bad", "why"), [
    ("GHSA-9wx4-h78v-vm56  requests", "expected 'ID  package  reason, YYYY-MM-DD'"),
    ("GHSA-9wx4-h78v-vm56  requests  no date given", "must end with ', YYYY-MM-DD'"),
    ("GHSA-9wx4-h78v-vm56  requests  , 2024-01-01", "must end with ', YYYY-MM-DD'"),
    ("GHSA-9wx4-h78v-vm56  requests  reason, 2024-13-01", "'2024-13-01' is not a date"),
    ("GHSA-9wx4-h78v-vm56  requests  reason, 2999-01-01", "in the future"),
    ("requests  GHSA-9wx4-h78v-vm56  reason, 2024-01-01", "'requests' is not a vulnerability ID"),
    ("CVE-2024-35195  not/a/package  reason, 2024-01-01", "'not/a/package' is not a package name"),
    ("CVE-2024-35195  left-pad  reason, 2024-01-01", "left-pad is not in the lock"),
    ("PYSEC-2023-74  jinja2  reason, 2024-01-01", "PYSEC-2023-74 is already allowed on line 2"),
])
def test_the_audit_script_rejects_a_malformed_allowlist_line_with_file_and_line(tmp_path, bad, why):
    allow = tmp_path / "allow.txt"
    allow.write_text(f"# comment\nPYSEC-2023-74  jinja2  sandbox unused, 2024-01-02\n\n{bad}\n")
    proc = subprocess.run([sys.executable, str(SCRIPT), "--check-allowlist", "--allowlist", str(allow)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert f"{allow}:4: " in proc.stderr and why in proc.stderr, proc.stderr
    assert f"{allow}:2" not in proc.stderr


def test_the_audit_script_accepts_the_repository_allowlist():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--check-allowlist"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def fake_pip_audit(tmp_path: Path, behaviour: dict[str, str]) -> Path:
    """A pip-audit stand-in: per service (-s), 'clean', 'vulnerable', 'unknown' (PyPI's 404 for every release)
    or 'unreachable'; it records each call's arguments."""
    exe = tmp_path / "pip-audit"
    exe.write_text(f"#!{sys.executable}\n" + textwrap.dedent(f"""
        import json, sys
        args = sys.argv[1:]
        with open({str(tmp_path / 'calls.jsonl')!r}, "a") as calls:
            calls.write(json.dumps(args) + "\\n")
        kind = {behaviour!r}[args[args.index("-s") + 1]]
        out = args[args.index("--output") + 1]
        if kind == "clean":
            open(out, "w").write(json.dumps({{"dependencies": [{{"name": "requests", "version": "2.34.2", "vulns": []}}]}}))
            print("No known vulnerabilities found", file=sys.stderr)
            sys.exit(0)
        if kind == "vulnerable":
            vuln = {{"id": "GHSA-9wx4-h78v-vm56", "fix_versions": ["9.9"], "aliases": ["CVE-2024-35195"]}}
            open(out, "w").write(json.dumps({{"dependencies": [{{"name": "requests", "version": "2.34.2", "vulns": [vuln]}}]}}))
            print("Found 1 known vulnerability in 1 package", file=sys.stderr)
            sys.exit(1)
        if kind == "unknown":
            why = "Dependency not found on PyPI and could not be audited: requests (2.34.2)"
            if "--strict" in args:
                print("ERROR:pip_audit._cli:requests: " + why, file=sys.stderr)
                sys.exit(1)
            open(out, "w").write(json.dumps({{"dependencies": [{{"name": "requests", "skip_reason": why}}]}}))
            sys.exit(0)
        print("requests.exceptions.ConnectionError: HTTPSConnectionPool(host='osv.invalid', port=443): "
              "Max retries exceeded (Caused by NameResolutionError(\\"Failed to resolve 'osv.invalid'\\"))", file=sys.stderr)
        sys.exit(1)
    """))
    exe.chmod(0o755)
    return exe


def run_audit(tmp_path: Path, behaviour: dict[str, str], mode: str | None, allow: str = "") -> subprocess.CompletedProcess:
    lock = tmp_path / "lock.txt"
    lock.write_text("requests==2.34.2\n    # via auditor (pyproject.toml)\n")
    allowlist = tmp_path / "allow.txt"
    allowlist.write_text(allow)
    env = {k: v for k, v in os.environ.items() if k != "DEPENDENCY_AUDIT"}
    if mode is not None:
        env["DEPENDENCY_AUDIT"] = mode
    return subprocess.run([sys.executable, str(SCRIPT), "--lock", str(lock), "--allowlist", str(allowlist),
                           "--pip-audit", str(fake_pip_audit(tmp_path, behaviour))],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def calls(tmp_path: Path) -> list[list[str]]:
    return [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]


def test_clean_audit_passes_with_the_allowlist_ignored_strictly_against_the_lock(tmp_path):
    proc = run_audit(tmp_path, {"pypi": "clean", "osv": "clean"}, None,
                     allow="GHSA-9wx4-h78v-vm56  requests  only our own endpoints, 2024-06-01\n")
    assert proc.returncode == 0, proc.stderr
    assert "SKIPPED" not in proc.stderr
    [args] = calls(tmp_path)
    assert args[:7] == ["-s", "pypi", "--strict", "--no-deps", "--disable-pip", "-r", str(tmp_path / "lock.txt")]
    assert args[args.index("--ignore-vuln") + 1] == "GHSA-9wx4-h78v-vm56"


@pytest.mark.parametrize("mode", [None, "optional"])
def test_a_vulnerability_outside_the_allowlist_fails_even_when_optional(tmp_path, mode):
    proc = run_audit(tmp_path, {"pypi": "vulnerable", "osv": "clean"}, mode)
    assert proc.returncode == 1, proc.stderr
    assert "requests==2.34.2  GHSA-9wx4-h78v-vm56 (CVE-2024-35195)  fixed in: 9.9" in proc.stderr


def test_osv_is_tried_when_pypi_knows_none_of_the_locked_releases(tmp_path):
    proc = run_audit(tmp_path, {"pypi": "unknown", "osv": "vulnerable"}, "optional")
    assert proc.returncode == 1, proc.stderr
    assert [args[1] for args in calls(tmp_path)] == ["pypi", "pypi", "osv"]  # strict, then a count without --strict


@pytest.mark.parametrize(("mode", "code"), [(None, 3), ("required", 3), ("optional", 0)])
def test_no_reachable_service_is_skipped_loudly_and_passes_only_when_optional(tmp_path, mode, code):
    proc = run_audit(tmp_path, {"pypi": "unknown", "osv": "unreachable"}, mode)
    assert proc.returncode == code, proc.stderr
    assert "\n\n" not in proc.stderr.strip()  # one paragraph
    paragraph = " ".join(proc.stderr.split())
    assert paragraph.startswith("SKIPPED: dependency audit could not run: ")
    assert "pypi: PyPI's per-release JSON API answered 'not found' for all 1 locked releases" in paragraph
    assert "osv: cannot resolve osv.invalid" in paragraph


def test_a_bad_mode_or_a_malformed_allowlist_fails_before_auditing(tmp_path):
    proc = run_audit(tmp_path, {"pypi": "clean", "osv": "clean"}, "sometimes")
    assert proc.returncode == 2 and "DEPENDENCY_AUDIT='sometimes'" in proc.stderr
    proc = run_audit(tmp_path, {"pypi": "clean", "osv": "clean"}, "optional", allow="GHSA-9wx4-h78v-vm56 requests\n")
    assert proc.returncode == 2 and f"{tmp_path / 'allow.txt'}:1: " in proc.stderr
    assert not (tmp_path / "calls.jsonl").exists()
