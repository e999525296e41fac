"""The cost report of ``auditor cost``: every line of each deployment's estimate with its formula,
the budget verdict and, when asked for, Cost Explorer's month-to-date spend beside it."""
from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import Any

from rich.table import Table
from rich.text import Text

from ..cost.actual import LABELS
from ..cost.deployment import DeploymentCost, budget_status
from ..cost.estimate import usd
from ..results import AuditResult
from .console import make_console

STATUS_STYLE = {"estimated": "", "unpriced": "bold red", "not_estimated": "dim"}


def selected_costs(result: AuditResult, environment: str | None = None) -> list[DeploymentCost]:
    """The result's deployments, only those of ``environment`` when given."""
    return [c for c in result.costs if environment is None or c.environment == environment]


def cost_document(result: AuditResult, environment: str | None = None) -> dict[str, Any]:
    """The JSON form (also the ``costs`` section of the audit's JSON report)."""
    deployments = [{**cost.as_dict(), "budget_status": budget_status(result.findings, cost)}
                   for cost in selected_costs(result, environment)]
    prices = dict(result.prices) or {"region": result.region, "source": None, "as_of": None, "file": None, "prices": 0}
    return {"account": result.account, "region": result.region, "prices": prices,
            "deployments": deployments}


def render_costs(results: Sequence[AuditResult], fmt: str, environment: str | None = None, color: bool = False) -> str:
    """The report of ``auditor cost``: one or more audits (one per emulated environment), as ``table`` or
    ``json`` (one document: the first audit's account, region and prices, every deployment)."""
    if fmt == "json":
        docs = [cost_document(r, environment) for r in results]
        return json.dumps({**docs[0], "deployments": [d for doc in docs for d in doc["deployments"]]},
                          indent=2, default=str) + "\n"
    return "".join(to_cost_table(r, color, environment) for r in results)


def to_cost_table(result: AuditResult, color: bool = False, environment: str | None = None) -> str:
    buf = io.StringIO()
    out = make_console(buf, color)
    doc = cost_document(result, environment)
    costs = selected_costs(result, environment)
    p = doc["prices"]
    out.print(Text.assemble(("Estimated monthly cost", "bold"),
                            f"  account {result.account}  region {result.region}  prices "
                            f"{p.get('as_of') or 'none'} ({p.get('file') or 'no table for this region'})"))
    if not costs:
        out.print("No deployment of the architecture was found (nothing matches its selector).")
    for cost, d in zip(costs, doc["deployments"], strict=True):
        _deployment(out, cost, d)
    return buf.getvalue()


def _deployment(out: Any, cost: DeploymentCost, d: dict[str, Any]) -> None:
    t = Table(title=f"{cost.architecture} {cost.environment or '(no environment)'}", title_justify="left",
              title_style="bold", expand=True, show_footer=True)
    t.add_column("service", footer="total", no_wrap=True)
    t.add_column("resource", overflow="fold", ratio=3)
    t.add_column("item", overflow="fold", ratio=2)
    t.add_column("formula", overflow="fold", ratio=4)
    t.add_column("monthly", justify="right", no_wrap=True,
                 footer=usd(d["monthly_usd"]) + ("" if d["complete"] else " + unknown"))
    for line in cost.estimate.lines:
        value = {"estimated": usd(line.monthly_usd), "unpriced": "unknown", "not_estimated": "not estimated"}
        t.add_row(line.service, str(line.resource.get("name") or line.resource["id"]), line.item,
                  line.formula + (f"\n({line.note})" if line.note else ""),
                  Text(value[line.status], style=STATUS_STYLE[line.status]))
    out.print(t)
    by_service = d["by_service"]
    actual = cost.actual.by_label() if cost.actual is not None else None
    s = Table(title="by service" + (" (Cost Explorer month to date beside the estimate)" if actual else ""),
              title_justify="left")
    s.add_column("service")
    s.add_column("estimate / month", justify="right")
    if actual is not None:
        s.add_column(f"actual {cost.actual.start}..{cost.actual.end}", justify="right")
    for service in LABELS:
        if service in by_service or (actual and actual.get(service)):
            row = [service, usd(by_service[service]) if service in by_service else "-"]
            if actual is not None:
                row.append(usd(actual.get(service, 0.0)))
            s.add_row(*row)
    out.print(s)
    if cost.actual_error:
        out.print(Text(f"actual spend unavailable: {cost.actual_error}", style="yellow"))
    if cost.missing_types:
        out.print(Text(f"incomplete: collection failed for {', '.join(cost.missing_types)}", style="red"))
    if cost.budget:
        b = cost.budget
        verdict = {"pass": ("within budget", "green"), "fail": ("OVER BUDGET", "bold red"),
                   "error": ("cannot tell", "yellow"), "skip": ("cannot tell", "yellow"),
                   "waived": ("over budget (waived)", "yellow")}
        word, style = verdict.get(d["budget_status"] or "", ("-", ""))
        out.print(Text.assemble("budget ", (usd(b.monthly_usd), "bold"), f" + {b.tolerance:.0%} = {usd(b.limit_usd)}: ",
                                (word, style), f'   document: "{b.quote}"'))
        for row in d["rows"]:
            out.print(Text.assemble(f"  {row['item']}: {usd(row['estimated_usd'])} estimated, "
                                    f"{usd(row['documented_usd'])} documented + {row['tolerance']:.0%} = "
                                    f"{usd(row['limit_usd'])} ",
                                    ("within", "green") if row["within"] else ("over", "bold red")))
        for line in d["unitemized"]:
            out.print(Text(f"  not in the document's cost table: {line}", style="dim"))
    else:
        out.print(Text("no documented budget for this environment", style="dim"))
    out.print()
