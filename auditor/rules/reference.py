"""The attribute reference: per resource type, every attribute path rules can read, with its type,
origin (identity, collected, relation, deployment), allowed values and an example from the emulated
deployments. The examples are package data, written by ``scripts/attribute_reference.py``."""
from __future__ import annotations

import json
from typing import Any

from ..attributes import Kind, Shape, Type, origins, paths
from ..package_data import package_path

EXAMPLES = package_path("schemas", "attribute-examples.json")
Reference = dict[str, dict[str, dict[str, Any]]]
"""{type: {attribute path: {type, origin, values?, example?}}}"""


def reference(examples: dict[str, dict[str, Any]] | None = None) -> Reference:
    """Every resource type's attributes (the bundled examples unless ``examples`` is given)."""
    if examples is None:
        examples = json.loads(EXAMPLES.read_text())
    out: Reference = {}
    for rtype, attrs in sorted(origins().items()):
        entries: dict[str, dict[str, Any]] = {}
        for name, (origin, t) in attrs.items():
            for path, sub in paths(Shape({name: t})):
                entry: dict[str, Any] = {"type": str(sub), "origin": origin}
                if isinstance(sub, Kind) and sub.values:
                    entry["values"] = list(sub.values)
                if path in examples.get(rtype, {}):
                    entry["example"] = examples[rtype][path]
                entries[path] = entry
        out[rtype] = entries
    return out


def collect_examples(documents: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """One example per attribute path of scalar type: the first value neither null nor empty in
    ``documents`` taken in (type, id) order."""
    from ..attributes import table

    shapes = table()
    found: dict[str, dict[str, Any]] = {}

    def visit(value: Any, t: Type, path: str, into: dict[str, Any]) -> None:
        if isinstance(t, Kind):
            if value not in (None, "", [], {}) and path not in into:
                into[path] = json.loads(json.dumps(value))
            return
        items = value if t.many and isinstance(value, list) else [value] if isinstance(value, dict) else []
        prefix = f"{path}[]." if t.many else f"{path}." if path else ""
        for item in items:
            for name, sub in t.items():
                if isinstance(item, dict) and name in item:
                    visit(item[name], sub, prefix + name, into)

    for doc in sorted(documents, key=lambda d: (d["type"], str(d["id"]))):
        visit(doc, shapes[doc["type"]], "", found.setdefault(doc["type"], {}))
    return {rtype: dict(sorted(found[rtype].items())) for rtype in sorted(found)}


def timeless(examples: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The examples but those of ``time`` attributes, which hold when the emulated account was built:
    two builds differ in those alone."""
    times = {(rtype, path) for rtype, attrs in reference(examples).items() for path, e in attrs.items()
             if e["type"] == "time"}
    return {rtype: {p: v for p, v in attrs.items() if (rtype, p) not in times} for rtype, attrs in examples.items()}
