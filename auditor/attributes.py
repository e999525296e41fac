"""What rules can query, per resource type, as data; and the check of rule keys against it.

A *shape* maps each attribute name to the shape of its value: a nested shape for an object (or
the items of a list of objects) whose fields are declared, ``None`` for anything else (scalars,
lists of scalars, free-form maps such as ``tags`` or ``parameters``), whose inside is not checked.
The collector modules declare their types' attributes in their descriptions
(:class:`~auditor.collect.types.ResourceType`), :mod:`auditor.relations` what it
derives in ``RELATIONS``, :mod:`auditor.deployments` the ``deployment`` type in
``DERIVED_ATTRIBUTES``; every document also has the identity fields, ``IDENTITY``.
"""
from __future__ import annotations

import difflib
from typing import Any

import jmespath

Shape = dict[str, "Shape | None"]
At = tuple["Shape | None", str]
"""A shape and what it describes, e.g. ``(..., "rds_instance.db_subnet_group")``."""


def shape(names: str = "", **nested: Shape | None) -> Shape:
    """A shape from space-separated names (values not checked inside) and named nested shapes."""
    return {**dict.fromkeys(names.split()), **nested}


IDENTITY = shape("type id arn name account region tags environment deployment")
"""What every document has (see :meth:`auditor.model.Resource.document`)."""


def table() -> dict[str, Shape]:
    """Each resource type's shape: identity fields, collected attributes and derived relations."""
    from .collect import attribute_shapes
    from .deployments import DERIVED, DERIVED_ATTRIBUTES
    from .relations import RELATIONS

    out = {rtype: {**IDENTITY, **attrs, **RELATIONS.get(rtype, {})} for rtype, attrs in attribute_shapes().items()}
    out[DERIVED] = {**IDENTITY, **DERIVED_ATTRIBUTES}
    return out


def resolve(key: str, at: At) -> tuple[At, list[str]]:
    """Where ``key`` (a JMESPath expression that compiles) leads from ``at``, and its unknown fields."""
    problems: list[str] = []
    return _walk(jmespath.compile(key).parsed, at, problems), problems


class _Reads(dict):
    """A shape that admits any field and records those read from the document itself."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def __contains__(self, name: object) -> bool:
        self.names.add(str(name))
        return True

    def __getitem__(self, name: str) -> None:
        return None   # what lies inside is not followed


def top_level(key: str) -> frozenset[str]:
    """The document's own fields that ``key`` reads: ``tags`` for ``tags.Project``, ``rules`` and
    ``port`` for ``rules[?priority > `1`] || port``."""
    reads = _Reads()
    resolve(key, (reads, "document"))
    return frozenset(reads.names)


def _walk(node: dict[str, Any], at: At, problems: list[str]) -> At:
    kind, children = node["type"], node.get("children", [])
    shape_, where = at
    unknown: At = (None, where)
    if kind == "field":
        name = node["value"]
        if shape_ is None:
            return unknown
        if name not in shape_:
            close = difflib.get_close_matches(name, shape_, n=1)
            problems.append(f"unknown attribute '{name}' of {where}" + (f" (did you mean '{close[0]}'?)" if close else ""))
            return unknown
        return shape_[name], f"{where}.{name}"
    if kind in ("subexpression", "index_expression", "projection", "flatten", "pipe"):
        for child in children:   # each applies to what the one before gives (lists: to its items)
            at = _walk(child, at, problems)
        return at
    if kind == "filter_projection":
        left, right, condition = children
        items = _walk(left, at, problems)
        _walk(condition, items, problems)
        return _walk(right, items, problems)
    if kind in ("current", "identity", "index", "slice"):
        return at
    if kind == "value_projection":
        return _walk(children[1], (None, _walk(children[0], at, problems)[1]), problems)
    if kind == "expref":   # applied to items the function chooses
        return unknown
    found = [_walk(child, at, problems) for child in children]   # functions, comparisons, literals...
    return next((f for f in found if f[0] is not None), unknown) if kind == "or_expression" else unknown
