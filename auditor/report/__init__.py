"""Render an audit result: json (the documented contract), table, markdown, junit."""
from __future__ import annotations

from collections.abc import Callable

from ..results import AuditResult, FleetResult
from .json_report import to_json
from .junit import to_junit
from .markdown import to_markdown
from .table import to_table

FORMATS: dict[str, Callable[[AuditResult | FleetResult], str]] = {
    "json": to_json, "table": to_table, "markdown": to_markdown, "junit": to_junit,
}


def render(result: AuditResult | FleetResult, fmt: str, color: bool = False) -> str:
    """The report in ``fmt``; ``color`` styles the table for a terminal."""
    return to_table(result, color) if fmt == "table" else FORMATS[fmt](result)
