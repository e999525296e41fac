"""CloudWatch metric alarms and dashboards.

Alarms come from ``describe_alarms(AlarmTypes=["MetricAlarm"])``; composite alarms are not
collected, and alarm tags are not read (that would cost one ``list_tags_for_resource`` call per
alarm), so ``tags`` is always empty. Dashboards come from ``list_dashboards`` plus one
``get_dashboard`` per dashboard, whose JSON body is parsed leniently (an unreadable body gives
``widget_count`` None; a failing call leaves what the body gives unknown; a dashboard deleted
meanwhile is dropped).

Resource types (each described, attributes and volatile ones included, by its ``ResourceType`` below):

- ``cloudwatch_alarm`` (id = AlarmName, arn = AlarmArn): dimensions {name: value}; threshold is a
  float, None for anomaly-detection alarms; metrics holds the queries of a metric-math alarm, else
  None.
- ``cloudwatch_dashboard`` (id = DashboardName, arn = DashboardArn): widget_types (sorted unique),
  metrics (sorted unique "Namespace/MetricName" referenced by metric widgets, with the "." and
  "..." shorthands resolved), dimension_values (sorted unique dimension values those metrics name:
  which clusters, databases... it shows).
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from ..attributes import many, shape
from ..model import Resource
from . import CollectContext, collector
from .types import ResourceType

CLOUDWATCH_ALARM = ResourceType(
    "cloudwatch_alarm", "cloudwatch", "arn:{partition}:cloudwatch:{region}:{account}:alarm:{name}",
    calls=("DescribeAlarms",),
    attributes=shape(
        "alarm_name:str description:str namespace:str metric_name:str dimensions:map "
        "statistic:SampleCount|Average|Sum|Minimum|Maximum extended_statistic:str unit:str "
        "comparison_operator:GreaterThanOrEqualToThreshold|GreaterThanThreshold|LessThanThreshold|LessThanOrEqualToThreshold|"
        "LessThanLowerOrGreaterThanUpperThreshold|LessThanLowerThreshold|GreaterThanUpperThreshold threshold:number "
        "threshold_metric_id:str period:int evaluation_periods:int datapoints_to_alarm:int "
        "treat_missing_data:breaching|notBreaching|ignore|missing actions_enabled:bool alarm_actions:[str] ok_actions:[str] "
        "insufficient_data_actions:[str] state_value:OK|ALARM|INSUFFICIENT_DATA",
        metrics=many("id:str expression:str namespace:str metric_name:str dimensions:map stat:str period:int "
                     "return_data:bool")),
    volatile=("state_value",),
    cost="cloudwatch")
CLOUDWATCH_DASHBOARD = ResourceType(
    "cloudwatch_dashboard", "cloudwatch", "arn:{partition}:cloudwatch::{account}:dashboard/{name}",
    calls=("ListDashboards", "GetDashboard"),
    attributes=shape("dashboard_name:str widget_count:int widget_types:[str] metrics:[str] dimension_values:[str]"),
    cost="cloudwatch")


@collector(CLOUDWATCH_ALARM)
def metric_alarms(ctx: CollectContext) -> Iterator[Resource]:
    for a in ctx.paginate("cloudwatch", "describe_alarms", "MetricAlarms", AlarmTypes=["MetricAlarm"]):
        threshold = a.get("Threshold")
        yield ctx.resource(
            "cloudwatch_alarm", a["AlarmName"], arn=a.get("AlarmArn"), name=a["AlarmName"],
            alarm_name=a["AlarmName"],
            description=a.get("AlarmDescription"),
            namespace=a.get("Namespace"),
            metric_name=a.get("MetricName"),
            dimensions=_dimensions(a.get("Dimensions")),
            statistic=a.get("Statistic"),
            extended_statistic=a.get("ExtendedStatistic"),
            unit=a.get("Unit"),
            comparison_operator=a.get("ComparisonOperator"),
            threshold=None if threshold is None else float(threshold),
            threshold_metric_id=a.get("ThresholdMetricId"),
            period=a.get("Period"),
            evaluation_periods=a.get("EvaluationPeriods"),
            datapoints_to_alarm=a.get("DatapointsToAlarm"),
            treat_missing_data=a.get("TreatMissingData"),
            actions_enabled=a.get("ActionsEnabled"),
            alarm_actions=list(a.get("AlarmActions") or []),
            ok_actions=list(a.get("OKActions") or []),
            insufficient_data_actions=list(a.get("InsufficientDataActions") or []),
            metrics=[_metric_query(m) for m in a["Metrics"]] if a.get("Metrics") else None,
            state_value=a.get("StateValue"),
        )


@collector(CLOUDWATCH_DASHBOARD)
def dashboards(ctx: CollectContext) -> Iterator[Resource]:
    client = ctx.client("cloudwatch")
    for d in ctx.paginate("cloudwatch", "list_dashboards", "DashboardEntries"):
        name = d["DashboardName"]
        with ctx.item("cloudwatch", "cloudwatch_dashboard", name, gone=("ResourceNotFound",)) as item:
            answer = item.call(_BODY_READS, client.get_dashboard, DashboardName=name)
            body = dict.fromkeys(_BODY_READS) if answer is None else _body(answer.get("DashboardBody"))
            yield item.resource(arn=d.get("DashboardArn"), name=name, dashboard_name=name, **body)


_BODY_READS = ("widget_count", "widget_types", "metrics", "dimension_values")


def _body(body: str | None) -> dict[str, Any]:
    """What a dashboard body shows: the ``_BODY_READS`` attributes."""
    widgets = _widgets(body)
    types: set[str] = set()
    metrics: set[str] = set()
    values: set[str] = set()
    for w in widgets or []:
        if isinstance(w.get("type"), str):
            types.add(w["type"])
        props = w.get("properties")
        if isinstance(props, dict):
            for row in _metric_rows(props.get("metrics")):
                metrics.add(f"{row[0]}/{row[1]}")
                values.update(v for v in row[3::2] if isinstance(v, str))
    return {"widget_count": None if widgets is None else len(widgets), "widget_types": sorted(types),
            "metrics": sorted(metrics), "dimension_values": sorted(values)}


def _dimensions(dims: list[dict] | None) -> dict[str, str]:
    return {d["Name"]: d.get("Value") for d in dims or [] if "Name" in d}


def _metric_query(m: dict) -> dict[str, Any]:
    stat = m.get("MetricStat") or {}
    metric = stat.get("Metric") or {}
    return {
        "id": m.get("Id"),
        "expression": m.get("Expression"),
        "namespace": metric.get("Namespace"),
        "metric_name": metric.get("MetricName"),
        "dimensions": _dimensions(metric.get("Dimensions")),
        "stat": stat.get("Stat"),
        "period": stat.get("Period") or m.get("Period"),
        "return_data": m.get("ReturnData"),
    }


def _widgets(body: str | None) -> list[dict] | None:
    """The widget objects of a dashboard body, or None when the body is not a readable dashboard."""
    try:
        doc = json.loads(body or "")
    except ValueError:
        return None
    widgets = doc.get("widgets") if isinstance(doc, dict) else None
    if not isinstance(widgets, list):
        return None
    return [w for w in widgets if isinstance(w, dict)]


def _metric_rows(rows: Any) -> list[list[Any]]:
    """Each metric row as [Namespace, MetricName, DimensionName, DimensionValue, ...]. A row may
    repeat the previous row's values with "." (same position) or a leading "..." (all but its own
    trailing values); expressions are skipped."""
    found: list[list[Any]] = []
    previous: list[Any] = []
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, list):
            continue
        parts = [p for p in row if not isinstance(p, dict)]  # the trailing dict holds render options
        if not parts:
            continue
        if parts[0] == "...":
            tail = parts[1:]
            parts = previous[:max(len(previous) - len(tail), 0)] + tail
        parts = [previous[i] if p == "." and i < len(previous) else p for i, p in enumerate(parts)]
        previous = parts
        if len(parts) >= 2 and isinstance(parts[0], str) and isinstance(parts[1], str):
            found.append(parts)
    return found
