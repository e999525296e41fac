"""What rules can query, per resource type, as data: each attribute's type; the checks of rule keys,
literals and documents against it.

A *shape* maps each attribute name to its type: a :class:`Kind` for a value whose inside is not
declared (a scalar, a list of scalars, a free-form map such as ``tags``), a nested shape for an
object whose fields are declared (:func:`many`: a list of such objects). The syntax, in one string::

    shape("cluster_name:str status:ACTIVE|INACTIVE desired_count:int multi_az:bool subnet_ids:[str] "
          "tags:map created_at:time", network=shape("assign_public_ip:bool"), listeners=many("port:int"))

Kinds: ``str``, ``int``, ``number``, ``bool``, ``time`` (an ISO 8601 string), ``map`` (an object of
any keys), ``any`` (only where the value truly varies), an enum ``A|B|C`` (AWS's spellings, where the
collector keeps them), and ``[kind]`` for a list of them. Null fits every type (AWS and moto leave
values unset). The collector modules declare their types' attributes in their descriptions
(:class:`~auditor.collect.types.ResourceType`), :mod:`auditor.relations` what it derives in
``RELATIONS``, :mod:`auditor.deployments` the ``deployment`` type in ``DERIVED_ATTRIBUTES``; every
document also has the identity fields, ``IDENTITY``.
"""
from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import jmespath

SCALARS = {"str": "a string", "int": "an int", "number": "a number", "bool": "a bool", "time": "a time",
           "map": "a map", "any": "any value"}
"""Each scalar kind and how messages name it."""
_DETAIL = {"bool": " (true/false)", "time": " (an ISO 8601 string)", "map": " (an object of any keys)"}


def _is_time(value: Any) -> bool:
    try:
        datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return True


_FITS = {
    "str": lambda v: isinstance(v, str),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool) or isinstance(v, float) and v.is_integer(),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "time": _is_time,
    "map": lambda v: isinstance(v, dict),
    "any": lambda v: True,
}


def show(value: Any) -> str:
    """A value as messages quote it: strings in single quotes, the rest as JSON."""
    return repr(value) if isinstance(value, str) else json.dumps(value, default=str)


def closest(word: Any, choices: Any) -> str | None:
    """The choice ``word`` most likely meant, if any is close (case aside)."""
    choices = list(choices)
    same = [c for c in choices if str(c).lower() == str(word).lower()]
    return same[0] if same else next(iter(difflib.get_close_matches(str(word), choices, n=1)), None)


def did_you_mean(word: Any, choices: Any) -> str:
    """`` (did you mean 'x'?)`` for the :func:`closest` choice, or nothing when none is close."""
    close = closest(word, choices)
    return f" (did you mean '{close}'?)" if close else ""


@dataclass(frozen=True)
class Kind:
    """The type of a value whose inside is not declared: a scalar kind, or an enum (``values``);
    ``many``: a list of them. Falsy, as it declares no fields."""

    name: str
    values: tuple[str, ...] = ()
    many: bool = False

    def __bool__(self) -> bool:
        return False

    def __str__(self) -> str:
        text = "|".join(self.values) or self.name
        return f"[{text}]" if self.many else text

    @property
    def item(self) -> Kind:
        return replace(self, many=False)

    def describe(self) -> str:
        """How messages name this type, e.g. "a bool (true/false)", "one of ACTIVE, INACTIVE"."""
        if self.many:
            return f"a list, each {self.item.describe()}"
        return f"one of {', '.join(self.values)}" if self.values else SCALARS[self.name] + _DETAIL.get(self.name, "")

    def fits(self, value: Any) -> bool:
        if value is None:
            return True
        if self.many:
            return isinstance(value, (list, tuple)) and all(self.item.fits(v) for v in value)
        return value in self.values if self.values else _FITS[self.name](value)

    def problem(self, value: Any, where: str) -> str | None:
        """None when ``value`` fits, else e.g. "'DISABLED' is not a bool; x.enabled is a bool (true/false)"."""
        if self.fits(value):
            return None
        if self.many and isinstance(value, (list, tuple)):
            return next(p for p in (self.item.problem(v, f"{where}[]") for v in value) if p)
        if self.values and isinstance(value, str):
            return f"{show(value)} is not a value of {where}: {', '.join(self.values)}" + did_you_mean(value, self.values)
        what = "a list" if self.many else "one of its values" if self.values else SCALARS[self.name]
        return f"{show(value)} is not {what}; {where} is {self.describe()}"


class Shape(dict):
    """Attribute name -> its type (:class:`Kind`, or a Shape for an object whose fields are declared);
    ``many``: a list of such objects."""

    def __init__(self, fields: Any = (), many: bool = False):
        super().__init__(fields)
        self.many = many

    def __str__(self) -> str:
        return "[object]" if self.many else "object"

    @property
    def item(self) -> Shape:
        return Shape(self) if self.many else self

    def describe(self) -> str:
        return "a list of objects" if self.many else "an object"

    def problem(self, value: Any, where: str) -> str | None:
        """None when ``value`` is null or the container this shape declares (its fields not looked at)."""
        if value is None or isinstance(value, (list, tuple) if self.many else dict):
            return None
        return f"{show(value)} is not {self.describe()}; {where} is {self.describe()}"


Type = Shape | Kind
At = tuple["Type | None", str]
"""A type and what it describes, e.g. ``(..., "rds_instance.db_subnet_group")``."""


def _kind(spec: str, name: str) -> Kind:
    listed = spec.startswith("[") and spec.endswith("]")
    inner = spec[1:-1] if listed else spec
    if inner in SCALARS:
        return Kind(inner, many=listed)
    if "|" not in inner or "" in inner.split("|"):
        raise ValueError(f"attribute {name!r}: unknown kind {spec!r} (an enum lists two values or more: A|B)")
    return Kind("enum", tuple(inner.split("|")), many=listed)


def _fields(names: str, nested: dict[str, Type]) -> dict[str, Type]:
    fields: dict[str, Type] = {}
    for word in names.split():
        name, _, spec = word.partition(":")
        if not spec:
            raise ValueError(f"attribute {name!r} has no type: write {name}:KIND")
        fields[name] = _kind(spec, name)
    return {**fields, **nested}


def shape(names: str = "", **nested: Type) -> Shape:
    """An object's shape from space-separated ``name:kind`` words and named nested types."""
    return Shape(_fields(names, nested))


def many(names: str = "", **nested: Type) -> Shape:
    """The shape of a list of objects, written as :func:`shape`."""
    return Shape(_fields(names, nested), many=True)


def element(t: Type | None) -> Type | None:
    """The type of each item of a list of type ``t`` (an object shape: itself, its fields still checked)."""
    if isinstance(t, Kind):
        return t.item if t.many else None
    return t.item if isinstance(t, Shape) else t


IDENTITY = shape("type:str id:str arn:str name:str account:str region:str tags:map environment:str deployment:str")
"""What every document has (see :meth:`auditor.model.Resource.document`)."""


ORIGINS = ("identity", "collected", "relation", "deployment")
"""Where a document's top-level attributes come from."""


def origins() -> dict[str, dict[str, tuple[str, Type]]]:
    """Each resource type's top-level attributes in document order, each with its origin and type."""
    from .collect import attribute_shapes
    from .deployments import DERIVED, DERIVED_ATTRIBUTES
    from .relations import RELATIONS

    def merged(*parts: tuple[str, dict[str, Type]]) -> dict[str, tuple[str, Type]]:
        return {name: (origin, t) for origin, part in parts for name, t in part.items()}

    out = {rtype: merged(("identity", IDENTITY), ("collected", attrs), ("relation", RELATIONS.get(rtype, {})))
           for rtype, attrs in attribute_shapes().items()}
    out[DERIVED] = merged(("identity", IDENTITY), ("deployment", DERIVED_ATTRIBUTES))
    return out


def table() -> dict[str, Shape]:
    """Each resource type's shape: identity fields, collected attributes and derived relations."""
    return {rtype: Shape({name: t for name, (_, t) in attrs.items()}) for rtype, attrs in origins().items()}


def resolve(key: str, at: At) -> tuple[At, list[str]]:
    """Where ``key`` (a JMESPath expression that compiles) leads from ``at``: the type of what it
    gives (a projection: a list), and its unknown fields."""
    problems: list[str] = []
    return _walk(jmespath.compile(key).parsed, at, problems), problems


_SAME = ("eq", "ne")
_EACH = ("in", "not_in", "subset", "superset")
_NUMERIC = ("lt", "le", "gt", "ge")
_TEXT = {"regex": "matches strings", "starts_with": "matches strings", "cidr_within": "compares CIDR blocks (strings)",
         "version_eq": "compares versions", "version_ge": "compares versions"}
_TEXT_KINDS = {"regex": ("str", "time", "enum"), "starts_with": ("str", "time", "enum"), "cidr_within": ("str",),
               "version_eq": ("str", "int", "number", "enum"), "version_ge": ("str", "int", "number", "enum")}


def literal_problem(op: str, value: Any, at: At) -> str | None:
    """None when the literal ``value`` of operator ``op`` can match a value of the type at ``at``,
    else why not, e.g. "'DISABLED' is not a bool; ecs_service.network.assign_public_ip is a bool (true/false)"."""
    t, where = at
    if not isinstance(t, (Kind, Shape)) or isinstance(t, Kind) and t.name == "any" and not t.many:
        return None
    scalar = t.item if isinstance(t, Kind) and not t.many else None
    if op in _SAME:
        return t.problem(value, where)
    if op in _EACH and isinstance(value, list):   # in/not_in: the value is one of these; subset/superset: items
        each = t if op in ("in", "not_in") else element(t)
        return next((p for p in (each.problem(v, where) for v in value) if p), None) if each is not None else None
    if op in ("contains", "not_contains") and isinstance(t, Kind):
        return t.item.problem(value, f"each of {where}") if t.many else (
            None if isinstance(value, str) or t.name != "str" else f"op {op} on a string looks for a string; "
                                                                    f"got {show(value)}")
    if op in _NUMERIC and not (scalar is not None and scalar.name in ("int", "number")):
        return f"op {op} compares numbers; {where} is {t.describe()}"
    if op in _TEXT and (scalar is None or scalar.name not in _TEXT_KINDS[op]):
        return f"op {op} {_TEXT[op]}; {where} is {t.describe()}"
    return None


def document_problems(value: Any, t: Type | None, where: str, path: tuple = ()) -> list[tuple[tuple, str]]:
    """What in ``value`` (a document, or part of one) does not fit type ``t``: each as its path
    under ``value`` (keys and list indices) and a message naming ``where`` it is."""
    if t is None:
        return []
    problem = t.problem(value, where)
    if problem or isinstance(t, Kind) or value is None:
        return [(path, problem)] if problem else []
    if t.many:
        return [p for i, item in enumerate(value) for p in document_problems(item, t.item, f"{where}[]", (*path, i))]
    out: list[tuple[tuple, str]] = []
    for name, v in value.items():
        if name in t:
            out += document_problems(v, t[name], f"{where}.{name}", (*path, name))
        else:
            out.append(((*path, name), f"unknown attribute '{name}' of {where}" + did_you_mean(name, t)))
    return out


def paths(t: Shape, prefix: str = "") -> list[tuple[str, Type]]:
    """Every attribute path under ``t`` with its type, e.g. ``listeners[].port`` (a JMESPath key)."""
    out: list[tuple[str, Type]] = []
    for name, sub in t.items():
        path = f"{prefix}{name}"
        out.append((path, sub))
        if isinstance(sub, Shape):
            out += paths(sub, f"{path}[]." if sub.many else f"{path}.")
    return out


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


def _listed(at: At) -> At:
    """What a projection gives: a list of what ``at`` describes (a list of lists: not followed)."""
    t, where = at
    if isinstance(t, Kind) and not t.many:
        return replace(t, many=True), where
    if isinstance(t, Shape) and not t.many:
        return Shape(t, many=True), where
    return None, where


def _walk(node: dict[str, Any], at: At, problems: list[str]) -> At:
    kind, children = node["type"], node.get("children", [])
    shape_, where = at
    unknown: At = (None, where)
    if kind == "field":
        name = node["value"]
        if not isinstance(shape_, dict):
            return unknown
        if name not in shape_:
            problems.append(f"unknown attribute '{name}' of {where}" + did_you_mean(name, shape_))
            return unknown
        return shape_[name], f"{where}.{name}"
    if kind in ("subexpression", "index_expression", "pipe"):
        for child in children:   # each applies to what the one before gives
            at = _walk(child, at, problems)
        return at
    if kind in ("projection", "filter_projection"):   # the right side (and the filter) apply to each item
        items = _walk(children[0], at, problems)
        items = (element(items[0]), items[1])
        if kind == "filter_projection":
            _walk(children[2], items, problems)
        return _listed(_walk(children[1], items, problems))
    if kind == "flatten":
        return _walk(children[0], at, problems)
    if kind == "index":
        return element(shape_), where
    if kind in ("current", "identity", "slice"):
        return at
    if kind == "value_projection":
        _walk(children[1], (None, _walk(children[0], at, problems)[1]), problems)
        return unknown
    if kind == "expref":   # applied to items the function chooses
        return unknown
    found = [_walk(child, at, problems) for child in children]   # functions, comparisons, literals...
    if kind in ("comparator", "not_expression"):
        return Kind("bool"), where
    return next((f for f in found if f[0] is not None), unknown) if kind == "or_expression" else unknown
