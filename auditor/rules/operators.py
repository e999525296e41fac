"""The one operator table: ``op`` name -> predicate(actual, expected), and the value each expects.

Each operator states, where it is defined, what its ``value`` must be (``check_value``): rule
validation checks every literal value and every parameter value against it, so a rule that
validates also runs."""
from __future__ import annotations

import ipaddress
import json
import math
import re
from collections.abc import Callable
from typing import Any


def _num(x: Any) -> float | None:
    if isinstance(x, bool) or x is None:
        return None
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def _compare(fn: Callable[[float, float], bool]) -> Callable[[Any, Any], bool]:
    def op(actual: Any, expected: Any) -> bool:
        a, e = _num(actual), _num(expected)
        return a is not None and e is not None and fn(a, e)
    return op


def _eq(actual: Any, expected: Any) -> bool:
    """Equality where booleans never equal numbers and 5 equals 5.0."""
    if isinstance(actual, bool) != isinstance(expected, bool):
        return False
    if isinstance(actual, (int, float)) and isinstance(expected, (int, float)) \
            and not isinstance(actual, bool) and not isinstance(expected, bool):
        return float(actual) == float(expected)
    return actual == expected


def _version(value: Any) -> tuple[int, ...] | None:
    parts = re.findall(r"\d+", str(value)) if value is not None else []
    return tuple(int(p) for p in parts) or None


def _version_eq(actual: Any, expected: Any) -> bool:
    """'15.4' matches '15' and '15.4'; '16.1' does not match '15'."""
    a, e = _version(actual), _version(expected)
    return a is not None and e is not None and a[:len(e)] == e


def _version_ge(actual: Any, expected: Any) -> bool:
    a, e = _version(actual), _version(expected)
    return a is not None and e is not None and a >= e


def _contains(actual: Any, expected: Any) -> bool:
    if isinstance(actual, str):
        return isinstance(expected, str) and expected in actual
    if isinstance(actual, (list, dict)):
        try:
            return expected in actual
        except TypeError:   # an unhashable value looked up among an object's keys
            return False
    return False


def _length(actual: Any) -> int | None:
    return len(actual) if isinstance(actual, (list, dict, str)) else None


def _len_op(fn: Callable[[int, int], bool]) -> Callable[[Any, Any], bool]:
    def op(actual: Any, expected: Any) -> bool:
        n = _length(actual)
        return n is not None and fn(n, int(expected))
    return op


def _cidr_within(actual: Any, expected: Any) -> bool:
    try:
        return ipaddress.ip_network(str(actual), strict=False).subnet_of(
            ipaddress.ip_network(str(expected), strict=False))
    except (ValueError, TypeError):
        return False


def _as_list(x: Any) -> list:
    return list(x) if isinstance(x, (list, tuple, set)) else [x]


ValueCheck = Callable[[Any], str | None]
"""A value check: None when the value suits the operator, else what is wrong with it."""


def _show(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _anything(value: Any) -> str | None:
    return None


def _number(value: Any) -> str | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return None
    return f"needs a number, got {_show(value)}"


def _count(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return None
    return f"needs a whole number >= 0, got {_show(value)}"


def _list(value: Any) -> str | None:
    return None if isinstance(value, list) else f"needs a list, got {_show(value)}"


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else f"needs true or false, got {_show(value)}"


def _string(value: Any) -> str | None:
    return None if isinstance(value, str) else f"needs a string, got {_show(value)}"


def _pattern(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"needs a regular expression (a string), got {_show(value)}"
    try:
        re.compile(value)
    except re.error as exc:
        return f"invalid regular expression {_show(value)}: {exc}"
    return None


def _version_string(value: Any) -> str | None:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool) and _version(value):
        return None
    return f"needs a version such as \"15\" or \"16.3\", got {_show(value)}"


def _network(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"needs a CIDR block such as \"10.0.0.0/16\", got {_show(value)}"
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError as exc:
        return f"invalid CIDR block {_show(value)}: {exc}"
    return None


_TABLE: dict[str, tuple[Callable[[Any, Any], bool], ValueCheck]] = {
    # op: (predicate(actual, expected), what ``value`` must be)
    "eq": (_eq, _anything),
    "ne": (lambda a, e: not _eq(a, e), _anything),
    "lt": (_compare(lambda a, e: a < e), _number),
    "le": (_compare(lambda a, e: a <= e), _number),
    "gt": (_compare(lambda a, e: a > e), _number),
    "ge": (_compare(lambda a, e: a >= e), _number),
    "in": (lambda a, e: any(_eq(a, x) for x in _as_list(e)), _list),
    "not_in": (lambda a, e: not any(_eq(a, x) for x in _as_list(e)), _list),
    "contains": (_contains, _anything),
    "not_contains": (lambda a, e: not _contains(a, e), _anything),
    "subset": (lambda a, e: a is not None and all(x in _as_list(e) for x in _as_list(a)), _list),
    "superset": (lambda a, e: a is not None and all(x in _as_list(a) for x in _as_list(e)), _list),
    "exists": (lambda a, e: (a is not None) == bool(e), _boolean),
    "empty": (lambda a, e: (a is None or _length(a) == 0) == bool(e), _boolean),
    "length_eq": (_len_op(lambda n, e: n == e), _count),
    "length_ge": (_len_op(lambda n, e: n >= e), _count),
    "length_le": (_len_op(lambda n, e: n <= e), _count),
    "regex": (lambda a, e: isinstance(a, str) and re.search(str(e), a) is not None, _pattern),
    "starts_with": (lambda a, e: isinstance(a, str) and a.startswith(str(e)), _string),
    "version_eq": (_version_eq, _version_string),
    "version_ge": (_version_ge, _version_string),
    "cidr_within": (_cidr_within, _network),
}

OPERATORS: dict[str, Callable[[Any, Any], bool]] = {op: fn for op, (fn, _) in _TABLE.items()}
VALUE_CHECKS: dict[str, ValueCheck] = {op: check for op, (_, check) in _TABLE.items()}


def check_value(op: str, value: Any) -> str | None:
    """None when ``value`` suits operator ``op``, else a message such as "op ge: needs a number, got ..."."""
    problem = VALUE_CHECKS[op](value)
    return f"op {op}: {problem}" if problem else None


SYMBOLS = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
