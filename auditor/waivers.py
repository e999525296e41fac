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
stay ``fail`` (:attr:`WaiverOutcome.expired`, announced once by the notifier). A waiver
that matches no failing finding (nothing, or only findings that now pass) is *stale*: it can be
removed. Findings whose rule could not be evaluated (``error``) are never waived, but they keep a
waiver that matches them from being reported stale, since the audit cannot tell.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from .aws import AuditSetupError
from .model import Finding
from .results import Waiver, WaiverOutcome
from .yaml_lines import SafeLineLoader, YamlFileError, line_for, read_yaml, validation_problems

FIELDS = ("rule_id", "resource", "reason", "owner", "expires")


class WaiverFileError(AuditSetupError):
    """One or more problems in a waiver file; ``problems`` holds one ``file:line: field: message`` each.
    An AuditSetupError: an audit given an invalid waiver file does not run."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def _text(value: Any) -> Any:
    """A required text field: numbers are taken as text; nothing or blanks is missing."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError("required")
    return str(value).strip() if isinstance(value, (str, int, float)) and not isinstance(value, bool) else value


def _date(value: Any) -> Any:
    """``YYYY-MM-DD`` (the loader leaves dates as text, so an impossible one is an error with its line)."""
    _text(value)
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"not a date YYYY-MM-DD (got {value!r})")


Text = Annotated[str, BeforeValidator(_text)]


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rule_id: Text
    resource: Text
    reason: Text
    owner: Text
    expires: Annotated[date, BeforeValidator(_date)]


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    waivers: list[_Entry] | None = None


MESSAGES = {   # pydantic error type -> ours, by depth of the location (1: top level, 3: a waiver's field)
    ("extra_forbidden", 1): "unknown key (expected 'waivers')",
    ("extra_forbidden", 3): f"unknown field (known: {', '.join(FIELDS)})",
    ("model_type", 0): "a waiver file is a mapping with the key 'waivers'",
    ("model_type", 2): f"must be a mapping with {', '.join(FIELDS)}",
    ("list_type", 1): "must be a list of waivers",
    ("missing", 3): "required",
    ("string_type", 3): "must be a string",
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
    try:
        data, lines = read_yaml(path, _Loader)
    except YamlFileError as exc:
        raise WaiverFileError([str(exc)]) from exc
    if data is None:
        return []
    try:
        entries = _File.model_validate(data).waivers or []
    except ValidationError as exc:
        raise WaiverFileError(validation_problems(path, exc, lines, MESSAGES)) from exc
    return [Waiver(**e.model_dump(), source=f"{path}:{line_for(('waivers', i), lines)}") for i, e in enumerate(entries)]


class _Loader(SafeLineLoader):
    """SafeLoader that leaves dates as text, so an impossible date is an error with a line."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
