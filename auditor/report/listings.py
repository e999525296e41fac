"""The listings of ``auditor rules list``, ``auditor waivers list`` and ``auditor prices show``, each as a
table (the terminal), JSON or Markdown."""
from __future__ import annotations

import io
import json
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from .console import make_console
from .markdown import markdown_table

if TYPE_CHECKING:
    from ..cost.prices import PriceTable
    from ..rules.loader import LoadedPack
    from ..waivers import Waiver

LIST_FORMATS = ("table", "json", "markdown")
WIDE = 160   # listings of documents' statements read better wide


def _doc_cite(rule: Any) -> str:
    return f"{rule.doc.file}{' § ' + rule.doc.section if rule.doc.section else ''}: \"{rule.doc.quote}\""


def rules_listing(packs: Sequence[LoadedPack], fmt: str, color: bool = False) -> str:
    """Every rule of ``packs`` with its document citation, the documented budget and what is out of scope."""
    if fmt == "json":
        return json.dumps([{"pack": lp.pack.pack, "document": lp.pack.document, "file": str(lp.path),
                            "rules": [r.model_dump(by_alias=True, exclude={"tests"}, exclude_none=True)
                                      for r in lp.pack.rules],
                            "out_of_scope": [o.model_dump(exclude_none=True) for o in lp.pack.out_of_scope],
                            "budget": lp.pack.budget.model_dump(exclude_none=True) if lp.pack.budget else None}
                           for lp in packs], indent=2, default=str) + "\n"
    if fmt == "markdown":
        parts = []
        for lp in packs:
            p = lp.pack
            parts.append(f"## {p.pack}: {p.title}" + (f" ({p.document})" if p.document else "") + "\n\n"
                         + markdown_table(("rule", "title", "severity", "resource", "document statement"),
                                          [(r.id, r.title, r.severity, r.resource, _doc_cite(r)) for r in p.rules]))
            if p.out_of_scope:
                parts.append(f"### {p.pack}: out of scope\n\n"
                             + markdown_table(("statement", "why"), [(o.statement, o.reason) for o in p.out_of_scope]))
        return "\n".join(parts)
    buf = io.StringIO()
    console = make_console(buf, color, WIDE)
    for lp in packs:
        p = lp.pack
        t = Table(title=f"{p.pack}: {p.title}" + (f" ({p.document})" if p.document else ""),
                  title_justify="left", show_lines=True, expand=True)
        for col, ratio in (("rule", 3), ("severity", 1), ("resource", 2), ("document statement", 5)):
            t.add_column(col, ratio=ratio)
        for r in p.rules:
            t.add_row(f"{r.id}\n{r.title}", r.severity, r.resource, _doc_cite(r))
        console.print(t)
        if p.budget:
            console.print(_budget_table(lp))
        if p.out_of_scope:
            o = Table(title=f"{p.pack}: out of scope", title_justify="left", expand=True)
            o.add_column("statement", ratio=3)
            o.add_column("why", ratio=3)
            for item in p.out_of_scope:
                o.add_row(item.statement, item.reason)
            console.print(o)
    return buf.getvalue()


def _budget_table(lp: LoadedPack) -> Table:
    p, budget = lp.pack, lp.pack.budget
    b = Table(title=f"{p.pack}: documented cost (judged by the pack's rules on resource 'deployment'; "
                    f"tolerance {budget.tolerance:.0%})", title_justify="left", expand=True)
    b.add_column("environment")
    b.add_column("item")
    b.add_column("monthly USD", justify="right")
    b.add_column("document statement", ratio=3)
    where = f"{p.document}{' § ' + budget.section if budget.section else ''}"
    for env, entry in budget.environments.items():
        for row in entry.rows:
            b.add_row(env, f"{row.item} ({', '.join(row.services)})", f"{row.monthly_usd:,.2f}",
                      f"\"{row.quote}\"" + (f" (tolerance {row.tolerance:.0%}: {row.note})"
                                             if row.tolerance is not None else ""))
        b.add_row(env, "total", f"{entry.monthly_usd:,.2f}", f"{where}: \"{entry.quote}\"")
    return b


def waivers_listing(path: Path, waivers: Sequence[Waiver], today: date, fmt: str, color: bool = False) -> str:
    """The waivers of a file with the days left before each expires (negative: expired)."""
    if fmt == "json":
        return json.dumps([{**w.as_dict(today), "expired": w.expired(today)} for w in waivers], indent=2) + "\n"
    expired = sum(w.expired(today) for w in waivers)
    title = f"Waivers in {path} ({len(waivers)}, {expired} expired) on {today}"
    if fmt == "markdown":
        return f"## {title}\n\n" + markdown_table(
            ("rule", "resource", "owner", "reason", "expires", "days left"),
            [(w.rule_id, w.resource, w.owner, w.reason, w.expires.isoformat(), w.days_left(today)) for w in waivers])
    t = Table(title=title, title_justify="left", show_lines=True, expand=True)
    for col, ratio in (("rule", 3), ("resource", 3), ("owner", 2), ("reason", 4)):
        t.add_column(col, ratio=ratio, overflow="fold")
    t.add_column("expires", no_wrap=True)
    t.add_column("days left", no_wrap=True, justify="right")
    for w in waivers:
        days = w.days_left(today)
        left = Text(f"{days} (expired)", style="red") if days < 0 else Text(f"{days}", style="yellow" if days <= 14 else "")
        t.add_row(w.rule_id, w.resource, w.owner, w.reason, w.expires.isoformat(), left)
    buf = io.StringIO()
    make_console(buf, color, WIDE).print(t)
    return buf.getvalue()


def prices_listing(table: PriceTable, region: str, fmt: str) -> str:
    """The prices in use for ``region`` and where they come from."""
    info = table.describe(region)
    entries = [table.get(region, k) for k in sorted((table.regions.get(region) or {}).get("prices", {}))]
    if fmt == "json":
        return json.dumps({**info, "prices": {p.key: p.as_dict() for p in entries}}, indent=2) + "\n"
    head = (f"{region}: {info['prices']} prices from {info['file'] or 'nowhere'} "
            f"(as of {info['as_of'] or '-'}; {info['source'] or 'no table for this region'})\n")
    hint = "" if info["prices"] else f"  fill it from the Price List API: auditor prices refresh --region {region}\n"
    if fmt == "markdown":
        return f"## {head}\n{hint}" + markdown_table(("price", "USD", "per"), [(p.key, f"{p.usd:g}", p.unit)
                                                                             for p in entries])
    return head + hint + "".join(f"  {p.key:<48} ${p.usd:<10g} per {p.unit}\n" for p in entries)
