"""Every PromQL query of the dashboards and alerting rules, ready to run against a Prometheus.

Used by tests/monitoring/test_monitoring.py (syntax, metric names and labels against
docs/metrics.md) and meant for end-to-end checks against a Prometheus that scrapes
``auditor serve``::

    from tests.monitoring.queries import queries
    for source, expr in queries():
        ...                                   # GET /api/v1/query?query=expr

or from the command line (the Prometheus URL is yours, e.g. one started on 127.0.0.1)::

    .venv/bin/python tests/monitoring/queries.py                       # list them
    .venv/bin/python tests/monitoring/queries.py --prometheus http://127.0.0.1:9090

Grafana variables are substituted: ``$architecture``/``$environment``/``$account`` (also as
``${name}`` or ``[[name]]``) become ``.*`` (they are only used with ``=~``), ``$__rate_interval``
``5m``, ``$__interval`` ``1m``, ``$__range`` ``1h``; ``${datasource}`` only appears in datasource
fields. An unknown variable raises ValueError, so a new one cannot slip through unsubstituted.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
MONITORING = REPO / "auditor" / "monitoring"   # the dashboard and the alerting rules
CONTRACT = REPO / "docs" / "metrics.md"

SUBSTITUTIONS = {
    "architecture": ".*",
    "environment": ".*",
    "account": ".*",
    "__rate_interval": "5m",
    "__interval": "1m",
    "__range": "1h",
}
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)(?::\w+)?\]\]")


@dataclass(frozen=True)
class Query:
    source: str      # where it comes from, e.g. "auditor/monitoring/auditor.json panel 7 'Compliance over time' A"
    expr: str        # PromQL with the Grafana variables substituted
    raw: str         # as written in the file
    kind: str        # "panel", "variable" (the series a label_values() variable reads) or "alert"
    instant: bool    # the panel asks for an instant query (alerts and variables: True)


def substitute(expr: str, values: dict[str, str] | None = None) -> str:
    """Replace the Grafana variables of ``expr`` by ``values`` (default: SUBSTITUTIONS)."""
    values = SUBSTITUTIONS if values is None else values

    def replace(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g)
        if name not in values:
            raise ValueError(f"unknown Grafana variable ${name} in {expr!r}")
        return values[name]

    return _VARIABLE.sub(replace, expr)


def iter_panels(panels: Iterable[dict]) -> Iterator[dict]:
    """Every panel, including those nested in (collapsed) rows."""
    for panel in panels:
        yield panel
        yield from iter_panels(panel.get("panels") or [])


def dashboard_files() -> list[Path]:
    return sorted(MONITORING.glob("*.json"))


def rule_files() -> list[Path]:
    return sorted(MONITORING.glob("*.rules.yml"))


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def dashboard_queries(path: Path) -> Iterator[Query]:
    dashboard = json.loads(path.read_text())
    for panel in iter_panels(dashboard.get("panels", [])):
        for target in panel.get("targets") or []:
            if "expr" not in target:
                continue
            source = f"{_rel(path)} panel {panel.get('id')} {panel.get('title')!r} {target.get('refId', '')}"
            yield Query(source, substitute(target["expr"]), target["expr"], "panel",
                        bool(target.get("instant")) and not target.get("range"))
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable.get("query")
        text = query.get("query", "") if isinstance(query, dict) else (query or "")
        match = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", text)
        if match:   # the series the variable reads its values from
            yield Query(f"{_rel(path)} variable {variable['name']}", substitute(match.group(1)),
                        text, "variable", True)


def alert_queries(path: Path) -> Iterator[Query]:
    for group in (yaml.safe_load(path.read_text()) or {}).get("groups", []):
        for rule in group.get("rules", []):
            name = rule.get("alert") or rule.get("record")
            kind = "alert" if "alert" in rule else "record"
            yield Query(f"{_rel(path)} {kind} {name}", rule["expr"].strip(), rule["expr"], kind, True)


def query_details() -> Iterator[Query]:
    """Every query of auditor/monitoring/*.json (panel targets, variables) and *.rules.yml."""
    for path in dashboard_files():
        yield from dashboard_queries(path)
    for path in rule_files():
        yield from alert_queries(path)


def queries() -> Iterator[tuple[str, str]]:
    """(source, expr) for every dashboard panel target, dashboard variable and alert rule."""
    for query in query_details():
        yield query.source, query.expr


# --- PromQL names -------------------------------------------------------------------------
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}")
_MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*')")
_IDENT = re.compile(r"(?<![\w:.])([a-zA-Z_:][a-zA-Z0-9_:]*)")
_MATCHER_OP_AHEAD = re.compile(r"\s*(=~|!~|!=|=(?!=))")


def metric_names(expr: str) -> set[str]:
    """Metric names an expression reads: identifiers starting with ``auditor_``, and ``up``."""
    text = _STRING.sub('""', expr)
    text = _GROUPING.sub(lambda m: m.group(1) + "()", text)
    names = set()
    for match in _IDENT.finditer(text):
        name = match.group(1)
        if _MATCHER_OP_AHEAD.match(text, match.end()):
            continue   # a label name in a matcher
        if name.startswith("auditor_") or name == "up":
            names.add(name)
    return names


def grouping_labels(expr: str) -> set[str]:
    """Label names of by/without/on/ignoring/group_left/group_right clauses."""
    text = _STRING.sub('""', expr)
    labels = set()
    for match in _GROUPING.finditer(text):
        labels.update(label.strip() for label in match.group(2).split(",") if label.strip())
    return labels


def selector_labels(expr: str) -> list[tuple[str, set[str]]]:
    """(metric, label names matched) for every ``metric{...}`` selector of the expression."""
    out = []
    for match in _SELECTOR.finditer(expr):
        out.append((match.group(1), {m.group(1) for m in _MATCHER.finditer(match.group(2))}))
    return out


def contract() -> tuple[dict[str, set[str]], set[str]]:
    """docs/metrics.md: {metric: labels it may carry (common ones included)}, common labels."""
    text = CONTRACT.read_text()
    common_text = text.split("Common labels", 1)[1].split("(", 1)[0]
    common = set(re.findall(r"`(\w+)`", common_text))
    metrics: dict[str, set[str]] = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 4 or not re.fullmatch(r"`\w+`", cells[0]):
            continue
        own = set(re.findall(r"`(\w+)`", re.sub(r"\([^)]*\)", "", cells[2])))
        no_common = "no common labels" in line
        metrics[cells[0].strip("`")] = own | (set() if no_common else common)
    return metrics, common


def _run(base_url: str) -> int:
    import requests

    failures = 0
    for query in query_details():
        try:
            response = requests.get(f"{base_url.rstrip('/')}/api/v1/query",
                                    params={"query": query.expr}, timeout=30)
            body = response.json()
        except (requests.RequestException, ValueError) as exc:
            print(f"ERROR  {query.source}: {exc}")
            failures += 1
            continue
        if body.get("status") != "success":
            print(f"ERROR  {query.source}: {body.get('errorType')}: {body.get('error')}\n       {query.expr}")
            failures += 1
            continue
        result = body["data"]["result"]
        count = len(result) if isinstance(result, list) else 1
        print(f"{'ok' if count else 'EMPTY':6} {query.source}: {count} series")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prometheus", metavar="URL",
                        help="run every query against this Prometheus (/api/v1/query); "
                             "exit 1 if any query errors (empty results are only reported)")
    args = parser.parse_args(argv)
    if args.prometheus:
        return _run(args.prometheus)
    for query in query_details():
        print(f"# {query.source} ({query.kind}{', instant' if query.instant else ''})\n{query.expr}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
