"""A Markdown report that a team can paste into a review, rendered from a Jinja2 template."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import groupby

import jinja2

from ..coverage import applied_to_nothing
from ..model import SEVERITIES
from ..results import AuditResult, FleetResult
from .cost import cost_document
from .json_report import summary


def _cell(value: object) -> str:
    """Make a value safe inside a Markdown table cell."""
    if value is None:
        return ""
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A Markdown table, every cell made safe."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


_ENV = jinja2.Environment(loader=jinja2.PackageLoader("auditor", "templates"),
                          autoescape=False, trim_blocks=True, lstrip_blocks=True,
                          undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
_ENV.filters["cell"] = _cell


def to_markdown(result: AuditResult | FleetResult) -> str:
    if isinstance(result, FleetResult):
        return _fleet_markdown(result)
    failing = [f for f in result.findings if f.status == "fail"]
    by_severity = sorted(failing, key=lambda f: SEVERITIES.index(f.severity))
    grouped = [(sev, list(items)) for sev, items in groupby(by_severity, key=lambda f: f.severity)]
    return _ENV.get_template("report.md.j2").render(
        r=result, s=summary(result), failing=grouped, cost=cost_document(result),
        errored=[f for f in result.findings if f.status == "error"],
        waived=[f for f in result.findings if f.status == "waived"],
        nothing=applied_to_nothing(result.findings, result.architecture_packs),
        passing=[f for f in result.findings if f.status == "pass"])


def _fleet_markdown(fleet: FleetResult) -> str:
    """Several targets: a table of them, those not audited, then each target's report one heading level down."""
    if len(fleet.targets) == 1 and not fleet.failures:
        return to_markdown(next(iter(fleet.results.values())))
    combined = fleet.combined
    s = summary(combined)["by_status"]
    lines = [f"# Architecture audit{': ' + combined.architecture if combined.architecture else ''}: "
             f"{len(fleet.targets)} targets", "",
             f"{s['fail']} failing, {s['error']} errors, {s['pass']} passing; "
             f"{len(fleet.failures)} target(s) not audited. Started {fleet.started_at} ({fleet.duration_seconds:.1f} s).", "",
             "| Account | Region | Result | Duration |", "|---|---|---|---|"]
    for target in fleet.targets:
        result, failure = fleet.results.get(target.key), fleet.failures.get(target.key)
        if failure is not None:
            outcome = f"**not audited**: {failure.service}:{failure.operation} {_cell(failure.code)}: {_cell(failure.message)}"
            seconds = failure.duration_seconds
        else:
            counts = summary(result)["by_status"]
            outcome, seconds = f"{counts['fail']} failing, {counts['error']} errors, {counts['pass']} passing", \
                result.duration_seconds
        lines.append(f"| {target.account} | {target.region} | {outcome} | {seconds:.1f} s |")
    parts = ["\n".join(lines) + "\n"]
    for result in fleet.results.values():
        body = to_markdown(result).split("\n")
        body[0] = f"# {result.account} / {result.region}"
        parts.append("\n".join("#" + line if line.startswith("#") else line for line in body))
    return "\n".join(parts)
