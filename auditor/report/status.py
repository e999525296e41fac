"""The short texts commands print besides reports: validations, inline rule tests, price refreshes,
notification deliveries and the coverage check, each line ending in a newline."""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..cost.refresh import RefreshSummary
    from ..model import Finding
    from ..rules.citations import CitationReport
    from ..rules.loader import LoadedPack
    from ..waivers import Waiver


def rules_valid(packs: Sequence[LoadedPack], citations: CitationReport | None = None, docs: Path | None = None) -> str:
    """``N files, M rules: valid`` and, after a quote check, what it found in ``docs``."""
    text = f"{len(packs)} files, {sum(len(p.pack.rules) for p in packs)} rules: valid"
    if citations is not None:
        text += f"; {citations.rules} rule and {citations.budgets} budget quotes found in {docs}"
        if citations.not_checked:
            text += f"; {citations.not_checked} rules cite no single document: not checked"
    return text + "\n"


def rule_tests(results: Sequence[Any], verbose: bool = False) -> str:
    """Each failing inline test (each test with ``verbose``), then the counts."""
    bad = sum(not r.ok for r in results)
    lines = [f"{'ok  ' if r.ok else 'FAIL'} {r.rule_id}: {r.name}: expected {r.expected}, got {r.actual}"
             for r in results if not r.ok or verbose]
    return "".join(f"{line}\n" for line in [*lines, f"{len(results) - bad} passed, {bad} failed"])


def waivers_valid(path: Path, waivers: Sequence[Waiver], today: date) -> str:
    """A warning per expired waiver, then the count."""
    expired = [w for w in waivers if w.expired(today)]
    lines = [f"warning: {w.source}: waiver for {w.rule_id} on {w.resource} expired on {w.expires}" for w in expired]
    lines.append(f"{path}: {len(waivers)} waivers: valid" + (f" ({len(expired)} expired)" if expired else ""))
    return "".join(f"{line}\n" for line in lines)


def refreshed(summaries: Iterable[RefreshSummary], cache: Path) -> str:
    """One line per region written to the price cache, with the prices the Price List did not answer."""
    return "".join(f"{s.region}: {s.prices} prices written to {cache}"
                   + (f"; not in the Price List answer: {', '.join(s.missing)}" if s.missing else "") + "\n"
                   for s in summaries)


def delivered(stats: Mapping[str, Any] | None) -> str:
    """Per notification channel: the messages sent, and those still queued in the state file."""
    return "".join(f"{channel}: {s.sent} message(s) sent, {s.pending} still queued in the state file "
                   "(sent on the next run)\n" if s.pending else f"{channel}: {s.sent} message(s) sent\n"
                   for channel, s in (stats or {}).items() if s.pending or s.sent)


def not_covered(silent: Sequence[Finding]) -> str:
    """The error of ``--require-coverage``: the pack rules that applied to nothing, ten at most."""
    return (f"error: {len(silent)} pack rule(s) applied to nothing (--require-coverage): "
            + ", ".join(f"{f.rule_id} in {f.deployment or 'the account'}" for f in silent[:10])
            + (" ..." if len(silent) > 10 else "") + "\n")
