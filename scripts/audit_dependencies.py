"""Audit requirements/lock.txt for known vulnerabilities with pip-audit (run by scripts/audit-dependencies.sh).

pip-audit runs as
    pip-audit -s SERVICE --strict --no-deps --disable-pip -r requirements/lock.txt --ignore-vuln ID ...
first with PyPI's vulnerability data (`-s pypi`), then, when that service cannot be used, with
OSV's (`-s osv`); each ID comes from the allow-list, requirements/pip-audit-allowlist.txt:

    # comment
    ID  package  reason, YYYY-MM-DD

one vulnerability per line: its ID as pip-audit prints it (GHSA-..., PYSEC-..., CVE-..., OSV-...),
the locked package it is in, why it is accepted and the date it was accepted (not in the future).
Blank lines and lines starting with # are ignored; anything else that does not fit is an error
reported as FILE:LINE.

Exit status:
    0  the audit ran and found no vulnerability outside the allow-list; or it could not run and
       DEPENDENCY_AUDIT=optional (then a paragraph starting with "SKIPPED:" is printed to stderr)
    1  a vulnerability not in the allow-list, or (--strict) a locked package the service could not audit
    2  a malformed allow-list or lock, a bad DEPENDENCY_AUDIT value, or pip-audit failing in a way
       that is not about reaching a vulnerability service
    3  no vulnerability service could be used (or pip-audit could not be installed) and
       DEPENDENCY_AUDIT is not "optional"

Standard library only: it runs under any Python 3.9+ and installs pip-audit into its own
virtualenv (under $TMPDIR, never .venv) unless --pip-audit names an executable.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = Path("requirements/lock.txt")
ALLOWLIST = Path("requirements/pip-audit-allowlist.txt")
PIP_AUDIT_VERSION = "2.10.1"
SERVICES = ("pypi", "osv")
MODE_VARIABLE = "DEPENDENCY_AUDIT"

VULN_ID = re.compile(r"(GHSA(-[23456789cfghjmpqrvwx]{4}){3}|PYSEC-\d{4}-\d+|CVE-\d{4}-\d{4,}|OSV-\d{4}-\d+)")
PACKAGE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")
DATE_AT_END = re.compile(r"(?P<reason>.*?),\s*(?P<date>\d{4}-\d{2}-\d{2})")
PIN = re.compile(r"(?P<name>[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?)==(?P<version>[A-Za-z0-9.+!_-]+)")
# pip-audit's and requests' words for a vulnerability service it could not talk to.
UNREACHABLE = ("requests.exceptions.", "ServiceError", "Could not connect to", "your network may be blocking",
               "Max retries exceeded", "Failed to resolve", "Name or service not known", "timed out",
               "Connection refused", "ConnectionError")
NOT_FOUND = "Dependency not found on PyPI"
NOISE = ("--no-deps is supported", "Consider using a tool like `pip-compile`", "is ignored: it is neither a file")


class Malformed(Exception):
    """One or more FILE:LINE: problem lines."""


@dataclass(frozen=True)
class Allowed:
    vuln_id: str
    package: str
    reason: str
    accepted: dt.date
    line: int


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_lock(path: Path) -> dict[str, str]:
    """Canonical name -> pinned version; every requirement in the lock must be a plain name==version."""
    pins: dict[str, str] = {}
    errors = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        match = PIN.fullmatch(line)
        if not match:
            errors.append(f"{path}:{number}: not a plain name==version pin: {raw.strip()!r}")
            continue
        name = canonical(match["name"])
        if name in pins:
            errors.append(f"{path}:{number}: {name} is pinned twice")
        pins[name] = match["version"]
    if errors:
        raise Malformed("\n".join(errors))
    if not pins:
        raise Malformed(f"{path}: pins no package")
    return pins


def parse_allowlist(path: Path, locked: dict[str, str] | None = None, today: dt.date | None = None) -> list[Allowed]:
    """The allow-list's entries; Malformed (every bad line as FILE:LINE: why) when any line does not fit."""
    today = today or dt.date.today()
    entries: list[Allowed] = []
    errors = []
    seen: dict[str, int] = {}
    expected = "expected 'ID  package  reason, YYYY-MM-DD'"
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{path}:{number}"
        fields = line.split(None, 2)
        if len(fields) < 3:
            errors.append(f"{where}: {expected}, got {line!r}")
            continue
        vuln_id, package, rest = fields
        if not VULN_ID.fullmatch(vuln_id):
            errors.append(f"{where}: {vuln_id!r} is not a vulnerability ID (GHSA-xxxx-xxxx-xxxx, PYSEC-YYYY-N, "
                          f"CVE-YYYY-N or OSV-YYYY-N); {expected}")
            continue
        if not PACKAGE.fullmatch(package):
            errors.append(f"{where}: {package!r} is not a package name; {expected}")
            continue
        tail = DATE_AT_END.fullmatch(rest)
        if not tail or not tail["reason"].strip():
            errors.append(f"{where}: the reason must end with ', YYYY-MM-DD' (the date it was accepted); {expected}")
            continue
        try:
            accepted = dt.date.fromisoformat(tail["date"])
        except ValueError:
            errors.append(f"{where}: {tail['date']!r} is not a date")
            continue
        if accepted > today:
            errors.append(f"{where}: accepted on {accepted}, which is in the future")
            continue
        if vuln_id in seen:
            errors.append(f"{where}: {vuln_id} is already allowed on line {seen[vuln_id]}")
            continue
        if locked is not None and canonical(package) not in locked:
            errors.append(f"{where}: {package} is not in the lock; remove the entry if the dependency is gone")
            continue
        seen[vuln_id] = number
        entries.append(Allowed(vuln_id, canonical(package), tail["reason"].strip(), accepted, number))
    if errors:
        raise Malformed("\n".join(errors))
    return entries


def ensure_pip_audit() -> tuple[str | None, str]:
    """pip-audit PIP_AUDIT_VERSION in a virtualenv of its own under $TMPDIR: (executable, "") or (None, why not)."""
    import fcntl

    tag = f"py{sys.version_info[0]}{sys.version_info[1]}"
    tools = Path(tempfile.gettempdir()) / "auditor-tools"
    venv = tools / f"pip-audit-{PIP_AUDIT_VERSION}-{tag}"
    exe = venv / "bin" / "pip-audit"
    stamp = venv / ".installed"
    tools.mkdir(parents=True, exist_ok=True)
    with open(tools / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one installer at a time; the others wait and reuse it
        if stamp.exists() and exe.exists():
            return str(exe), ""
        print(f"audit-dependencies: installing pip-audit {PIP_AUDIT_VERSION} into {venv}", file=sys.stderr)
        for step in ([sys.executable, "-m", "venv", "--clear", str(venv)],
                     [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "--quiet",
                      f"pip-audit=={PIP_AUDIT_VERSION}"]):
            proc = subprocess.run(step, capture_output=True, text=True)
            if proc.returncode != 0:
                return None, f"pip-audit {PIP_AUDIT_VERSION} could not be installed ({last_line(proc.stderr)})"
        stamp.write_text(PIP_AUDIT_VERSION + "\n")
    return str(exe), ""


def meaningful(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip() and not any(n in line for n in NOISE)]


def last_line(stderr: str) -> str:
    lines = meaningful(stderr)
    return lines[-1].strip()[:300] if lines else "no message"


def why_unreachable(stderr: str) -> str:
    host = re.search(r"Failed to resolve '([^']+)'", stderr)
    if host:
        return f"cannot resolve {host[1]}"
    host = re.search(r"host='([^']+)'", stderr)
    if host:
        return f"cannot connect to {host[1]} ({last_line(stderr)[:160]})"
    return last_line(stderr)


@dataclass
class Outcome:
    kind: str  # "clean", "vulnerable", "unaudited", "unusable", "error"
    detail: str
    report: dict | None = None


def run_service(pip_audit: str, service: str, lock: Path, allowed: list[Allowed]) -> Outcome:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        args = [pip_audit, "-s", service, "--strict", "--no-deps", "--disable-pip", "-r", str(lock),
                "--format", "json", "--output", str(out), "--aliases", "on", "--desc", "off",
                "--progress-spinner", "off"]
        for entry in allowed:
            args += ["--ignore-vuln", entry.vuln_id]
        proc = subprocess.run(args, capture_output=True, text=True)
        report = json.loads(out.read_text()) if out.exists() and out.read_text().strip() else None
        summary = last_line(proc.stderr)
        if proc.returncode == 0:
            return Outcome("clean", summary, report)
        if report is not None and any(dep.get("vulns") for dep in report.get("dependencies", [])):
            return Outcome("vulnerable", summary, report)
        if NOT_FOUND in proc.stderr:
            return unaudited_or_unusable(pip_audit, service, lock, proc.stderr)
        if any(marker in proc.stderr for marker in UNREACHABLE):
            return Outcome("unusable", why_unreachable(proc.stderr))
        return Outcome("error", f"pip-audit -s {service} exited {proc.returncode}: " + "\n".join(meaningful(proc.stderr)[-15:]))


def unaudited_or_unusable(pip_audit: str, service: str, lock: Path, strict_stderr: str) -> Outcome:
    """--strict stopped at the first package the service did not know. Without --strict: if it knew none of
    them the service is not usable here; if it knew some, the others really could not be audited."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        subprocess.run([pip_audit, "-s", service, "--no-deps", "--disable-pip", "-r", str(lock), "--format", "json",
                        "--output", str(out), "--progress-spinner", "off"], capture_output=True, text=True)
        deps = json.loads(out.read_text()).get("dependencies", []) if out.exists() and out.read_text().strip() else []
    skipped = [dep for dep in deps if "skip_reason" in dep]
    first = last_line(strict_stderr).removeprefix("ERROR:pip_audit._cli:")
    if not deps or len(skipped) == len(deps):
        count = f"all {len(deps)}" if deps else "the"
        return Outcome("unusable", f"PyPI's per-release JSON API answered 'not found' for {count} locked releases, "
                                   f"so pip-audit could audit none of them (first: {first})")
    names = ", ".join(f"{dep['name']} ({dep['skip_reason']})" for dep in skipped)
    return Outcome("unaudited", f"{len(skipped)} of {len(deps)} locked packages could not be audited: {names}")


def print_vulnerabilities(report: dict, service: str, lock: Path, allowlist: Path) -> None:
    print(f"audit-dependencies: known vulnerabilities in {lock} (pip-audit -s {service}) not in {allowlist}:",
          file=sys.stderr)
    for dep in report.get("dependencies", []):
        for vuln in dep.get("vulns") or []:
            aliases = f" ({', '.join(vuln['aliases'])})" if vuln.get("aliases") else ""
            fixes = ", ".join(vuln.get("fix_versions") or []) or "no fixed release"
            print(f"  {dep['name']}=={dep.get('version')}  {vuln['id']}{aliases}  fixed in: {fixes}", file=sys.stderr)
    print("audit-dependencies: upgrade it (scripts/lock.sh --upgrade-package NAME), or, if it is knowingly accepted, "
          f"add 'ID  package  reason, YYYY-MM-DD' to {allowlist}", file=sys.stderr)


def skipped(why: str, optional: bool) -> int:
    ending = (f"Continuing only because {MODE_VARIABLE}=optional." if optional else
              f"This is an error (exit 3); set {MODE_VARIABLE}=optional to let a run without a vulnerability service pass.")
    paragraph = (f"SKIPPED: dependency audit could not run: {why}. NO VULNERABILITY CHECK OF THE LOCKED DEPENDENCIES "
                 "WAS MADE: run scripts/audit-dependencies.sh where PyPI's per-release JSON API or OSV's API is "
                 f"reachable. {ending}")
    print("\n" + textwrap.fill(paragraph, width=110, break_on_hyphens=False) + "\n", file=sys.stderr)
    return 0 if optional else 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--lock", type=Path, default=LOCK)
    parser.add_argument("--allowlist", type=Path, default=ALLOWLIST)
    parser.add_argument("--check-allowlist", action="store_true", help="only validate the allow-list (and the lock)")
    parser.add_argument("--pip-audit", help="a pip-audit executable to use instead of installing one")
    parser.add_argument("--services", default=",".join(SERVICES), help="services to try in order (default: %(default)s)")
    args = parser.parse_args(argv)

    mode = os.environ.get(MODE_VARIABLE, "")
    if mode not in ("", "required", "optional"):
        print(f"audit-dependencies: {MODE_VARIABLE}={mode!r}: expected 'optional' or 'required'", file=sys.stderr)
        return 2
    try:
        locked = parse_lock(args.lock)
        allowed = parse_allowlist(args.allowlist, locked)
    except (Malformed, OSError) as err:
        print(f"audit-dependencies: {err}", file=sys.stderr)
        return 2
    if args.check_allowlist:
        print(f"audit-dependencies: {args.allowlist}: {len(allowed)} allowed vulnerabilities; "
              f"{args.lock}: {len(locked)} pins", file=sys.stderr)
        return 0

    if args.pip_audit:
        pip_audit, why = args.pip_audit, ""
    else:
        pip_audit, why = ensure_pip_audit()
    if pip_audit is None:
        return skipped(why, mode == "optional")

    reasons = []
    for service in args.services.split(","):
        outcome = run_service(pip_audit, service, args.lock, allowed)
        if outcome.kind == "clean":
            print(f"audit-dependencies: pip-audit -s {service}: {outcome.detail} in the {len(locked)} packages of "
                  f"{args.lock} ({len(allowed)} allowed in {args.allowlist})", file=sys.stderr)
            return 0
        if outcome.kind == "vulnerable":
            print_vulnerabilities(outcome.report or {}, service, args.lock, args.allowlist)
            return 1
        if outcome.kind == "unaudited":
            print(f"audit-dependencies: pip-audit -s {service} --strict: {outcome.detail}", file=sys.stderr)
            return 1
        if outcome.kind == "error":
            print(f"audit-dependencies: {outcome.detail}", file=sys.stderr)
            return 2
        reasons.append(f"{service}: {outcome.detail}")
    return skipped("no vulnerability service could be used (" + "; ".join(reasons) + ")", mode == "optional")


if __name__ == "__main__":
    sys.exit(main())
