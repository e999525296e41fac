"""What ``auditor inspect`` prints: whole documents as YAML or JSON, and one rule explained
condition by condition (text, JSON or YAML)."""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import yaml

from ..model import Resource, thaw
from ..rules.engine import Explained, Explanation
from ..rules.operators import SYMBOLS

MARKS = {True: "✓ pass", False: "✗ fail"}
QUANTIFIERS = {"all": "every item", "any": "some item", "none": "no item"}
GROUPS = {"all": "all of", "any": "any of", "none": "none of", "not": "not"}


class _Dumper(yaml.SafeDumper):
    """safe_dump without anchors and aliases: every value written out where it is."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump(data: Any, fmt: str) -> str:
    """``data`` whole: JSON (indent 2, sorted keys) or YAML (block style, long strings on one line)."""
    if fmt == "json":
        return json.dumps(data, indent=2, sort_keys=True, default=str, ensure_ascii=False) + "\n"
    return yaml.dump(data, Dumper=_Dumper, sort_keys=True, default_flow_style=False, allow_unicode=True,
                     width=2 ** 31 - 1)


def document(r: Resource, doc: Mapping[str, Any]) -> dict[str, Any]:
    """The document as rules see it; attributes a failed call left unknown under ``_unknown``, with why."""
    out = thaw(dict(doc))
    if r.unknown:
        out["_unknown"] = thaw(dict(r.unknown))
    return out


def render_documents(pairs: Sequence[tuple[Resource, Mapping[str, Any]]], fmt: str, single: bool = False) -> str:
    """The documents as a list, or the one document itself when ``single``."""
    docs = [document(r, doc) for r, doc in pairs]
    return dump(docs[0] if single else docs, fmt)


def render_explanations(explanations: Sequence[Explanation], fmt: str) -> str:
    if fmt in ("json", "yaml"):
        return dump([e.as_dict() for e in explanations], fmt)
    if not explanations:
        return "no resource to explain the rule on\n"
    return "\n".join(_text(e) for e in explanations)


def _value(value: Any) -> str:
    return json.dumps(thaw(value), sort_keys=True, default=str, ensure_ascii=False)


def _text(e: Explanation) -> str:
    r = e.resource
    name = f"{r['name']} ({r['id']})" if r.get("name") and r["name"] != r["id"] else r["id"]
    lines = [f"{e.rule_id} on {r['type']} {name}",
             f"  deployment: {e.deployment or '(none)'}   environment: {e.environment or '(none)'}"]
    for title, conditions, empty in (("scope", e.scope, "every resource of the type"), ("assert", e.asserts, "nothing")):
        verdict = "" if title == "assert" else (" in scope" if e.in_scope else " out of scope")
        lines.append(f"  {title}:{verdict}" + ("" if conditions else f" ({empty})"))
        rows = [row for c in conditions for row in _rows(c, 1)]
        width = max((len(text) for text, _ in rows), default=0)
        lines += [f"  {text.ljust(width)}  {found}".rstrip() for text, found in rows]
    lines.append(f"  status: {e.status}: {e.message}")
    return "\n".join(lines) + "\n"


def _rows(c: Explained, depth: int) -> Iterable[tuple[str, str]]:
    """(condition, what was found) lines of one condition and its parts, indented by ``depth``."""
    pad = "  " * depth
    if c.op is not None:
        param = f" (param {c.param})" if c.param else ""
        yield f"{pad}{MARKS[c.holds]}  {c.key} {SYMBOLS.get(c.op, c.op)} {_value(c.expected)}{param}", \
            f"actual: {_value(c.actual)}"
        return
    if c.key is None:
        yield f"{pad}{MARKS[c.holds]}  {GROUPS[c.kind or 'all']}:", ""
        for part in c.parts:
            yield from _rows(part, depth + 1)
        return
    count = f"{len(c.items)} item{'s' if len(c.items) != 1 else ''}"
    yield f"{pad}{MARKS[c.holds]}  {QUANTIFIERS[c.kind or 'all']} of {c.key} ({count}) meets all of:", ""
    for i, item in enumerate(c.items):
        yield f"{pad}  [{i}] {'matches' if item.holds else 'does not match'}", ""
        for part in item.parts:
            yield from _rows(part, depth + 2)
