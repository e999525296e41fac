"""A Markdown report that a team can paste into a review, rendered from a Jinja2 template."""
from __future__ import annotations

from itertools import groupby

import jinja2

from ..audit import AuditResult
from ..coverage import applied_to_nothing
from ..model import SEVERITIES
from .cost import cost_document
from .json_report import summary


def _cell(value: object) -> str:
    """Make a value safe inside a Markdown table cell."""
    if value is None:
        return ""
    return str(value).replace("|", "\\|").replace("\n", " ")


_ENV = jinja2.Environment(loader=jinja2.PackageLoader("auditor", "templates"),
                          autoescape=False, trim_blocks=True, lstrip_blocks=True,
                          undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
_ENV.filters["cell"] = _cell


def to_markdown(result: AuditResult) -> str:
    failing = [f for f in result.findings if f.status == "fail"]
    by_severity = sorted(failing, key=lambda f: SEVERITIES.index(f.severity))
    grouped = [(sev, list(items)) for sev, items in groupby(by_severity, key=lambda f: f.severity)]
    return _ENV.get_template("report.md.j2").render(
        r=result, s=summary(result), failing=grouped, cost=cost_document(result),
        errored=[f for f in result.findings if f.status == "error"],
        waived=[f for f in result.findings if f.status == "waived"],
        nothing=applied_to_nothing(result.findings, result.architecture_packs),
        passing=[f for f in result.findings if f.status == "pass"])
