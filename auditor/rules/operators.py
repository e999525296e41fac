"""The one operator table: ``op`` name -> predicate(actual, expected)."""
from __future__ import annotations

import ipaddress
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
    if isinstance(actual, (list, str, dict)):
        return expected in actual
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


OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": _eq,
    "ne": lambda a, e: not _eq(a, e),
    "lt": _compare(lambda a, e: a < e),
    "le": _compare(lambda a, e: a <= e),
    "gt": _compare(lambda a, e: a > e),
    "ge": _compare(lambda a, e: a >= e),
    "in": lambda a, e: any(_eq(a, x) for x in _as_list(e)),
    "not_in": lambda a, e: not any(_eq(a, x) for x in _as_list(e)),
    "contains": _contains,
    "not_contains": lambda a, e: not _contains(a, e),
    "subset": lambda a, e: a is not None and all(x in _as_list(e) for x in _as_list(a)),
    "superset": lambda a, e: a is not None and all(x in _as_list(a) for x in _as_list(e)),
    "exists": lambda a, e: (a is not None) == bool(e),
    "empty": lambda a, e: (a is None or _length(a) == 0) == bool(e),
    "length_eq": _len_op(lambda n, e: n == e),
    "length_ge": _len_op(lambda n, e: n >= e),
    "length_le": _len_op(lambda n, e: n <= e),
    "regex": lambda a, e: isinstance(a, str) and re.search(str(e), a) is not None,
    "starts_with": lambda a, e: isinstance(a, str) and a.startswith(str(e)),
    "version_eq": _version_eq,
    "version_ge": _version_ge,
    "cidr_within": _cidr_within,
}

SYMBOLS = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
