"""Waivers: known, accepted failing findings, each with a reason, an owner and an expiry date.

A waiver file is YAML::

    waivers:
      - rule_id: mattilda.rds.multi_az_production      # exact, or a glob with * and ?
        resource: mattilda-db                           # a finding's resource id, ARN or name (glob too)
        reason: Single-AZ until the Q3 migration; RPO accepted by the CTO
        owner: platform@example.com
        expires: 2026-09-30                             # YYYY-MM-DD, the last day the waiver holds

:func:`apply_waivers` turns every failing finding that an unexpired waiver matches into status
``waived`` (reported and counted as such, never alerted, never failing the exit code). A waiver
holds through its ``expires`` day; from the next day it is expired and the findings it matches
stay ``fail`` (:attr:`WaiverOutcome.expired`, announced once by the Slack notifier). A waiver
that matches no failing finding (nothing, or only findings that now pass) is *stale*: it can be
removed. Findings whose rule could not be evaluated (``error``) are never waived, but they keep a
waiver that matches them from being reported stale, since the audit cannot tell.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from .aws import AuditSetupError
from .model import Finding
from .yaml_lines import SafeLineLoader, YamlFileError, field_path, line_for, read_yaml

FIELDS = ("rule_id", "resource", "reason", "owner", "expires")


class WaiverFileError(AuditSetupError):
    """One or more problems in a waiver file; ``problems`` holds one ``file:line: field: message`` each.
    An AuditSetupError: an audit given an invalid waiver file does not run."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@lru_cache(maxsize=1024)
def _pattern(text: str) -> re.Pattern[str]:
    """``*`` = any run of characters (``/`` and ``:`` included), ``?`` = one character; the rest literal."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text),
                      re.DOTALL)


def _matches(pattern: str, value: Any) -> bool:
    if value is None:
        return False
    if "*" in pattern or "?" in pattern:
        return _pattern(pattern).fullmatch(str(value)) is not None
    return pattern == str(value)


@dataclass(frozen=True)
class Waiver:
    """One entry of a waiver file; ``source`` is ``file:line`` of the entry."""

    rule_id: str
    resource: str
    reason: str
    owner: str
    expires: date
    source: str = ""

    def matches(self, finding: Finding) -> bool:
        """Same rule, and the resource pattern names the finding's resource id, ARN or name."""
        if not _matches(self.rule_id, finding.rule_id):
            return False
        r = finding.resource
        return any(_matches(self.resource, r.get(k)) for k in ("id", "arn", "name"))

    def days_left(self, today: date) -> int:
        """Days until expiry: 0 on the last valid day, negative once expired."""
        return (self.expires - today).days

    def expired(self, today: date) -> bool:
        return today > self.expires

    def as_dict(self, today: date | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"rule_id": self.rule_id, "resource": self.resource, "reason": self.reason,
                               "owner": self.owner, "expires": self.expires.isoformat(), "source": self.source}
        if today is not None:
            out["days_left"] = self.days_left(today)
        return out


@dataclass
class WaiverOutcome:
    """What :func:`apply_waivers` did to one audit's findings."""

    findings: list[Finding]
    stale: list[Waiver] = field(default_factory=list)
    expired: list[tuple[Waiver, Finding]] = field(default_factory=list)
    waivers: list[Waiver] = field(default_factory=list)   # every waiver that was applied
    today: date | None = None

    @property
    def waived(self) -> list[Finding]:
        return [f for f in self.findings if f.status == "waived"]

    def as_dict(self) -> dict[str, Any]:
        """The JSON report's top-level ``waivers`` section."""
        return {
            "total": len(self.waivers),
            "waived": len(self.waived),
            "stale": [w.as_dict(self.today) for w in self.stale],
            "expired": [{"waiver": w.as_dict(self.today), "rule_id": f.rule_id, "resource": dict(f.resource)}
                        for w, f in self.expired],
        }


def apply_waivers(findings: Iterable[Finding], waivers: Iterable[Waiver], today: date) -> WaiverOutcome:
    """Mark failing findings matched by an unexpired waiver ``waived`` (the first such waiver in file
    order wins); report expired waivers that matched a failing finding and waivers that matched none."""
    waivers = list(waivers)
    used: set[int] = set()
    out: list[Finding] = []
    expired: list[tuple[Waiver, Finding]] = []
    for f in findings:
        if f.status not in ("fail", "error") or not waivers:
            out.append(f)
            continue
        matching = [(i, w) for i, w in enumerate(waivers) if w.matches(f)]
        used.update(i for i, _ in matching)
        if f.status == "error":
            out.append(f)
            continue
        valid = [w for _, w in matching if not w.expired(today)]
        if valid:
            out.append(replace(f, status="waived", waiver=valid[0].as_dict()))
            continue
        if matching:
            expired.append((matching[0][1], f))
        out.append(f)
    stale = [w for i, w in enumerate(waivers) if i not in used]
    return WaiverOutcome(findings=out, stale=stale, expired=expired, waivers=waivers, today=today)


def load_waivers(path: Path) -> list[Waiver]:
    """Read and validate a waiver file; raise :class:`WaiverFileError` naming file:line and field."""
    data, lines = _read(path)
    if data is None:
        return []
    if not isinstance(data, Mapping):
        raise WaiverFileError([f"{path}:1: a waiver file is a mapping with the key 'waivers'"])
    problems = [f"{path}:{line_for((k,), lines)}: {k}: unknown key (expected 'waivers')"
                for k in data if k != "waivers"]
    items = data.get("waivers")
    if items is None:
        items = []
    if not isinstance(items, list):
        raise WaiverFileError(problems + [f"{path}:{line_for(('waivers',), lines)}: waivers: "
                                          "must be a list of waivers"])
    waivers: list[Waiver] = []
    for i, item in enumerate(items):
        where = ("waivers", i)
        if not isinstance(item, Mapping):
            problems.append(f"{path}:{line_for(where, lines)}: {field_path(where)}: must be a mapping "
                            f"with {', '.join(FIELDS)}")
            continue
        values: dict[str, Any] = {}
        ok = True
        for key in item:
            if key not in FIELDS:
                problems.append(f"{path}:{line_for(where + (key,), lines)}: {field_path(where + (key,))}: "
                                f"unknown field (known: {', '.join(FIELDS)})")
                ok = False
        for name in FIELDS:
            loc = where + (name,)
            if name not in item or item[name] is None or (isinstance(item[name], str) and not item[name].strip()):
                problems.append(f"{path}:{line_for(loc, lines)}: {field_path(loc)}: required")
                ok = False
                continue
            value = item[name]
            if name == "expires":
                parsed = _date(value)
                if parsed is None:
                    problems.append(f"{path}:{line_for(loc, lines)}: {field_path(loc)}: "
                                    f"not a date YYYY-MM-DD (got {value!r})")
                    ok = False
                    continue
                values[name] = parsed
            elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
                values[name] = str(value).strip()
            else:
                problems.append(f"{path}:{line_for(loc, lines)}: {field_path(loc)}: must be a string")
                ok = False
        if ok:
            waivers.append(Waiver(**values, source=f"{path}:{line_for(where, lines)}"))
    if problems:
        raise WaiverFileError(problems)
    return waivers


class _Loader(SafeLineLoader):
    """SafeLoader that leaves dates as text, so an impossible date is an error with a line."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def _read(path: Path) -> tuple[Any, dict[tuple, int]]:
    try:
        return read_yaml(path, _Loader)
    except YamlFileError as exc:
        raise WaiverFileError([str(exc)]) from exc


def _date(value: Any) -> date | None:
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None
