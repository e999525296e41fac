"""The terminal report: failing findings grouped by severity, expected vs actual, and the source."""
from __future__ import annotations

import io
from collections import Counter

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..cost.estimate import usd
from ..coverage import applied_to_nothing
from ..model import SEVERITIES, Finding
from ..results import AuditResult, FleetResult
from ..results import counts as change_counts
from .console import make_console
from .json_report import summary

SEVERITY_STYLE = {"critical": "bold white on red", "high": "bold red", "medium": "yellow",
                  "low": "cyan", "info": "dim"}


def to_table(result: AuditResult | FleetResult, color: bool = False) -> str:
    if isinstance(result, FleetResult):
        return _fleet_table(result, color)
    buf = io.StringIO()
    out = make_console(buf, color)
    out.print(Text.assemble(("Audit ", "bold"), (result.architecture or "baseline", "bold"),
                            f"  account {result.account}  region {result.region}  "
                            f"environment {result.environment or '-'}  {result.duration_seconds:.1f}s"))
    _errors(out, result)
    _failing(out, result)
    _waivers(out, result)
    _applied_to_nothing(out, result)
    _changes(out, result)
    _costs(out, result)
    _summary(out, result)
    return buf.getvalue()


def _fleet_table(fleet: FleetResult, color: bool) -> str:
    """Several targets: those not audited, then each target's findings under its account and region."""
    if len(fleet.targets) == 1 and not fleet.failures:
        return to_table(next(iter(fleet.results.values())), color)
    buf = io.StringIO()
    out = make_console(buf, color)
    combined = fleet.combined
    out.print(Text.assemble(("Audit ", "bold"), (combined.architecture or "baseline", "bold"),
                            f"  {len(fleet.targets)} targets  accounts {combined.account}  regions {combined.region}  "
                            f"environment {combined.environment or '-'}  {combined.duration_seconds:.1f}s"))
    if fleet.failures:
        t = Table(title=f"Not audited ({len(fleet.failures)})", title_style="bold red", title_justify="left", expand=True)
        for col in ("account", "region", "call", "error"):
            t.add_column(col)
        for f in fleet.failures.values():
            t.add_row(f.target.account, f.target.region, f"{f.service}:{f.operation}", f"{f.code}: {f.message}")
        out.print(t)
    for result in fleet.results.values():
        out.rule(Text(f"account {result.account}  region {result.region}", style="bold"), align="left")
        counts = Counter(f.status for f in result.findings)
        out.print(f"{counts['fail']} failing, {counts['error']} errors, {counts['pass']} passing, "
                  f"{len(result.snapshot)} resources  {result.duration_seconds:.1f}s")
        _errors(out, result)
        _failing(out, result)
        _applied_to_nothing(out, result)
        _costs(out, result)
    out.rule()
    _waivers(out, combined)
    _summary(out, combined)
    return buf.getvalue()


def _errors(out: Console, result: AuditResult) -> None:
    if result.errors:
        t = Table(title="Incomplete: AWS calls that failed", title_style="bold red", expand=True)
        for col in ("service", "operation", "category", "error", "affects"):
            t.add_column(col)
        for e in result.errors:
            affects = ", ".join(e.resource_types) if e.whole_type else f"{e.resource_id}: {', '.join(e.attributes)}"
            t.add_row(e.service, e.operation, e.category, f"{e.code}: {e.message}", affects)
        out.print(t)


def _failing(out: Console, result: AuditResult) -> None:
    """Failing findings, one table per severity."""
    for severity in SEVERITIES:
        failing = [f for f in result.findings if f.status == "fail" and f.severity == severity]
        if not failing:
            continue
        t = Table(title=f"{severity.upper()} ({len(failing)})", title_style=SEVERITY_STYLE[severity],
                  title_justify="left", expand=True, show_lines=True)
        t.add_column("rule", ratio=3)
        t.add_column("resource", ratio=2)
        t.add_column("expected", ratio=3)
        t.add_column("actual", ratio=3)
        t.add_column("source", ratio=3)
        for f in failing:
            doc = f.doc or {}
            t.add_row(Text(f"{f.title}\n{f.rule_id}"),
                      _resource(f),
                      Text(str(f.expected)), Text(str(f.actual)),
                      Text(f"{doc.get('file', '')}\n\"{doc.get('quote', '')}\""))
        out.print(t)


def _summary(out: Console, result: AuditResult) -> None:
    s = summary(result)
    errored = [f for f in result.findings if f.status == "error"]
    if errored:
        out.print(Text(f"{len(errored)} checks not evaluated because collection failed "
                       f"(see the table above).", style="red"))
    by = s["by_status"]
    silent = {f.rule_id for f in applied_to_nothing(result.findings, result.architecture_packs)}
    out.print(Text.assemble(("Summary: ", "bold"), (f"{by['fail']} failing", "red" if by["fail"] else ""),
                            ", ", (f"{by['error']} errors", "red" if by["error"] else ""),
                            f", {by['waived']} waived" if by["waived"] or result.waivers else "",
                            f", {by['pass']} passing across {s['rules']} rules and "
                            f"{sum(s['resources'].values())} resources",
                            (f"; {len(silent)} pack rule(s) applied to nothing in a deployment", "yellow")
                            if silent else ""))


def _applied_to_nothing(out: Console, result: AuditResult) -> None:
    """Pack rules that found nothing to judge in a deployment: not a pass, and never silent."""
    silent = applied_to_nothing(result.findings, result.architecture_packs)
    if not silent:
        return
    t = Table(title=f"APPLIED TO NOTHING ({len(silent)}): these rules judged no resource",
              title_style="yellow", title_justify="left", expand=True)
    for col, ratio in (("rule", 3), ("deployment", 2), ("looked for", 5)):
        t.add_column(col, ratio=ratio, overflow="fold")
    for f in silent:
        t.add_row(Text(f.rule_id), Text(f.deployment or "-"), Text(f"{f.expected}: {f.actual}"))
    out.print(t)


def _costs(out: Console, result: AuditResult) -> None:
    """One line per deployment estimate; ``auditor cost`` shows every line of it."""
    for cost in result.costs:
        e, b = cost.estimate, cost.budget
        budget = f"budget {usd(b.monthly_usd)} + {b.tolerance:.0%} = {usd(b.limit_usd)}" if b else "no documented budget"
        over = b is not None and e.total_usd > b.limit_usd
        out.print(Text.assemble(("Estimated cost ", "bold"), f"{cost.architecture} {cost.environment or '-'}: ",
                                (f"{usd(e.total_usd)}/month" + ("" if e.complete else " + unknown"),
                                 "bold red" if over else "bold"),
                                f" ({budget}; every line: auditor cost -a {cost.architecture})"))


def _resource(f: Finding) -> Text:
    """A finding's resource as two lines: type, then name (or id)."""
    return Text(f"{f.resource['type']}\n{f.resource.get('name') or f.resource['id']}")


def _waivers(out: Console, result: AuditResult) -> None:
    """Waived findings, expired waivers (their findings fail again) and stale waivers."""
    waived = [f for f in result.findings if f.status == "waived"]
    if waived:
        t = Table(title=f"WAIVED ({len(waived)})", title_style="dim", title_justify="left", expand=True,
                  show_lines=True)
        for col, ratio in (("rule", 3), ("resource", 2), ("reason", 4), ("owner", 2)):
            t.add_column(col, ratio=ratio, overflow="fold")
        t.add_column("expires", no_wrap=True)
        for f in waived:
            w = f.waiver or {}
            t.add_row(Text(f"{f.rule_id}\n{f.severity}"),
                      _resource(f),
                      Text(str(w.get("reason", ""))), Text(str(w.get("owner", ""))), Text(str(w.get("expires", ""))))
        out.print(t)
    outcome = result.waivers
    if outcome is None:
        return
    if outcome.expired:
        t = Table(title=f"Expired waivers: these findings fail again ({len(outcome.expired)})",
                  title_style="bold red", title_justify="left", expand=True)
        for col, ratio in (("rule", 3), ("resource", 2), ("owner", 2), ("waiver", 3)):
            t.add_column(col, ratio=ratio, overflow="fold")
        t.add_column("expired", no_wrap=True)
        for w, f in outcome.expired:
            t.add_row(Text(f.rule_id), _resource(f),
                      Text(w.owner), Text(f"{w.source}\n{w.reason}"), Text(w.expires.isoformat()))
        out.print(t)
    if outcome.stale:
        t = Table(title=f"Stale waivers: they match no failing finding, remove them ({len(outcome.stale)})",
                  title_style="yellow", title_justify="left", expand=True)
        for col, ratio in (("rule", 3), ("resource", 2), ("owner", 2), ("source", 3)):
            t.add_column(col, ratio=ratio, overflow="fold")
        t.add_column("expires", no_wrap=True)
        for w in outcome.stale:
            t.add_row(Text(w.rule_id), Text(w.resource), Text(w.owner), Text(w.source), Text(w.expires.isoformat()))
        out.print(t)


def _changes(out: Console, result: AuditResult) -> None:
    """Resources added, removed and changed since the previous snapshot (when one was compared)."""
    changes = result.changes
    if changes is None:
        return
    since = f"since {result.compared_to}" if result.compared_to else "since the previous audit"
    if not changes:
        out.print(Text(f"No resource changes {since}.", style="dim"))
        return
    n = change_counts(changes)
    t = Table(title=f"CHANGES {since} ({n['added']} added, {n['removed']} removed, {n['changed']} changed)",
              title_style="bold", title_justify="left", expand=True, show_lines=True)
    t.add_column("change", ratio=1)
    t.add_column("resource", ratio=3)
    t.add_column("details", ratio=8)
    for c in changes:
        t.add_row(Text(c.kind), Text(f"{c.type}\n{c.name or c.id}"),
                  Text("\n".join(a.describe() for a in c.changes)))
    out.print(t)
