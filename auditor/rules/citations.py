"""Check that rule quotes appear in the architecture documents they cite.

A quote is verbatim text of its document, written on one line: markdown layout is ignored on
both sides (``**`` and backticks, code fences, list bullets, table pipes, shell line
continuations, line breaks and runs of spaces, a comma ending a word, so a list may be quoted as
"a, b"). A quote may join several verbatim fragments with ``"; "`` or elide text with
``" ... "``, and a fragment may end with a parenthesised note of the rule author's, e.g.
"(Production column)" or "(diagram: ...)", which is dropped when the fragment is not found
with it. Rules citing no single document (``all documents``, ``baseline``) are not checked.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..yaml_lines import field_path
from .loader import LoadedPack

NO_DOCUMENT = frozenset({"all documents", "baseline"})

_FENCE = re.compile(r"^[ \t]*(?:```|~~~).*$", re.MULTILINE)
_MARKUP = re.compile(r"\*\*|`")
_LAYOUT = re.compile(r"[-+*|:\\]+")          # a bullet, table pipe or separator, line continuation
_ELISION = re.compile(r"(?:^|\s)\.\.\.(?:\s|$)")


def normalize(text: str) -> str:
    """``text`` without markdown layout, its words separated by single spaces."""
    words = _MARKUP.sub("", _FENCE.sub(" ", text)).split()
    return " ".join(w.removesuffix(",") for w in words if not _LAYOUT.fullmatch(w))


def _without_note(fragment: str) -> str:
    """``fragment`` without a trailing parenthesised note (balanced), or unchanged."""
    if not fragment.endswith(")"):
        return fragment
    depth = 0
    for i in range(len(fragment) - 1, -1, -1):
        depth += {")": 1, "(": -1}.get(fragment[i], 0)
        if depth == 0:
            return fragment[:i].rstrip() or fragment
    return fragment


def _found(text: str, document: str) -> bool:
    """``text`` (normalized) is in ``document`` (normalized), not as part of a longer word or number."""
    needle = normalize(text)
    before = r"(?<!\w)" if needle[:1].isalnum() else ""
    after = r"(?!\w)" if needle[-1:].isalnum() else ""
    return re.search(before + re.escape(needle) + after, document) is not None


def _missing(quote: str, document: str) -> list[str]:
    if _found(quote, document):
        return []
    missing: list[str] = []
    for fragment in quote.split("; "):
        fragment = fragment.strip()
        if _found(fragment, document):
            continue
        pieces = [p.strip() for p in _ELISION.split(_without_note(fragment)) if p.strip()]
        absent = [p for p in pieces if not _found(p, document)]
        missing.extend([fragment] if absent and len(pieces) == 1 else absent)
    return missing


def missing_fragments(quote: str, document_text: str) -> list[str]:
    """The fragments of ``quote`` not found in ``document_text`` (empty: the quote is cited right)."""
    return _missing(quote, normalize(document_text))


@dataclass
class CitationReport:
    problems: list[str] = field(default_factory=list)   # "file:line: rule ID: field F: ..." each
    rules: int = 0          # rules whose quote was checked
    budgets: int = 0        # budget quotes checked
    not_checked: int = 0    # rules citing no single document


def check_citations(packs: list[LoadedPack], docs_dir: Path) -> CitationReport:
    """Check every rule quote (and budget quote) of ``packs`` against the documents in ``docs_dir``."""
    from ..cost.deployment import budget_rule_id

    report = CitationReport()
    cache: dict[str, str | None] = {}

    def document(name: str) -> str | None:
        if name not in cache:
            path = docs_dir / name
            cache[name] = normalize(path.read_text(encoding="utf-8")) if path.is_file() else None
        return cache[name]

    def check(lp: LoadedPack, rule_id: str, name: str, file_loc: tuple, quote: str, quote_loc: tuple) -> bool:
        text = document(name)
        if text is None:
            report.problems.append(f"{lp.where(*file_loc)}: rule {rule_id}: field {field_path(file_loc)}: "
                                   f"no document '{name}' in {docs_dir}")
            return False
        for piece in _missing(quote, text):
            report.problems.append(f"{lp.where(*quote_loc)}: rule {rule_id}: field {field_path(quote_loc)}: "
                                   f"not found in {name}: \"{piece}\"")
        return True

    for lp in packs:
        for i, rule in enumerate(lp.pack.rules):
            if rule.doc.file in NO_DOCUMENT:
                report.not_checked += 1
            elif check(lp, rule.id, rule.doc.file, ("rules", i, "doc", "file"),
                       rule.doc.quote, ("rules", i, "doc", "quote")):
                report.rules += 1
        if lp.pack.budget and lp.pack.document:
            for env, entry in lp.pack.budget.environments.items():
                quotes = [(entry.quote, ("budget", "environments", env, "quote"))]
                quotes += [(row.quote, ("budget", "environments", env, "rows", j, "quote"))
                           for j, row in enumerate(entry.rows)]
                for quote, where in quotes:
                    if check(lp, budget_rule_id(lp.pack.pack), lp.pack.document, ("document",), quote, where):
                        report.budgets += 1
    return report
