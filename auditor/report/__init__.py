"""Render an audit result: json (the documented contract), table, markdown, junit."""
from __future__ import annotations

from collections.abc import Callable

from ..audit import AuditResult
from .json_report import to_json
from .junit import to_junit
from .markdown import to_markdown
from .table import to_table

FORMATS: dict[str, Callable[[AuditResult], str]] = {
    "json": to_json, "table": to_table, "markdown": to_markdown, "junit": to_junit,
}


def render(result: AuditResult, fmt: str) -> str:
    return FORMATS[fmt](result)
