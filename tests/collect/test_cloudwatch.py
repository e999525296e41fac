"""CloudWatch collectors: metric alarms and dashboards."""
from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from auditor.collect.cloudwatch import dashboards, metric_alarms

REGION = "us-east-1"
TOPIC = "arn:aws:sns:us-east-1:123456789012:ops"


@pytest.fixture
def cw(aws):
    return boto3.client("cloudwatch", region_name=REGION)


def test_metric_alarms(ctx, cw):
    cw.put_metric_alarm(
        AlarmName="app-db-free-storage", AlarmDescription="disk almost full", Namespace="AWS/RDS",
        MetricName="FreeStorageSpace", Dimensions=[{"Name": "DBInstanceIdentifier", "Value": "app-db"}],
        Statistic="Minimum", ComparisonOperator="LessThanThreshold", Threshold=2_000_000_000,
        Period=300, EvaluationPeriods=3, DatapointsToAlarm=2, TreatMissingData="breaching",
        AlarmActions=[TOPIC], OKActions=[TOPIC])
    cw.put_metric_alarm(
        AlarmName="alb-5xx-rate", ComparisonOperator="GreaterThanThreshold", Threshold=5,
        EvaluationPeriods=1, Metrics=[
            {"Id": "rate", "Expression": "errors / requests * 100", "ReturnData": True},
            {"Id": "errors", "ReturnData": False, "MetricStat": {"Period": 60, "Stat": "Sum", "Metric": {
                "Namespace": "AWS/ApplicationELB", "MetricName": "HTTPCode_Target_5XX_Count",
                "Dimensions": [{"Name": "LoadBalancer", "Value": "app/web/1"}]}}},
        ])

    found = {r.id: r for r in metric_alarms(ctx)}

    alarm = found["app-db-free-storage"]
    a = alarm.attributes
    assert alarm.arn == "arn:aws:cloudwatch:us-east-1:123456789012:alarm:app-db-free-storage"
    assert alarm.tags == {}
    assert a["alarm_name"] == "app-db-free-storage"
    assert a["description"] == "disk almost full"
    assert (a["namespace"], a["metric_name"]) == ("AWS/RDS", "FreeStorageSpace")
    assert a["dimensions"] == {"DBInstanceIdentifier": "app-db"}
    assert a["statistic"] == "Minimum" and a["extended_statistic"] is None
    assert a["comparison_operator"] == "LessThanThreshold"
    assert a["threshold"] == 2e9 and isinstance(a["threshold"], float)
    assert (a["period"], a["evaluation_periods"], a["datapoints_to_alarm"]) == (300, 3, 2)
    assert a["treat_missing_data"] == "breaching"
    assert a["actions_enabled"] is True
    assert a["alarm_actions"] == [TOPIC] and a["ok_actions"] == [TOPIC]
    assert a["metrics"] is None
    assert a["state_value"] == "OK"

    math = found["alb-5xx-rate"].attributes
    assert math["namespace"] is None and math["dimensions"] == {}
    assert math["metrics"] == [
        {"id": "rate", "expression": "errors / requests * 100", "namespace": None, "metric_name": None,
         "dimensions": {}, "stat": None, "period": None, "return_data": True},
        {"id": "errors", "expression": None, "namespace": "AWS/ApplicationELB",
         "metric_name": "HTTPCode_Target_5XX_Count", "dimensions": {"LoadBalancer": "app/web/1"},
         "stat": "Sum", "period": 60, "return_data": False},
    ]


def _alarm(name):
    return {"AlarmName": name, "AlarmArn": f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}",
            "Namespace": "AWS/ECS", "MetricName": "CPUUtilization", "Threshold": 80.0,
            "ExtendedStatistic": "p99", "StateValue": "ALARM"}


def test_alarm_pagination_and_denied_call(ctx):
    """moto ignores MaxRecords for describe_alarms: the NextToken path is stubbed."""
    client = ctx.client("cloudwatch")
    with Stubber(client) as stub:
        stub.add_response("describe_alarms", {"MetricAlarms": [_alarm("a")], "NextToken": "t1"},
                          {"AlarmTypes": ["MetricAlarm"]})
        stub.add_response("describe_alarms", {"MetricAlarms": [_alarm("b")]},
                          {"AlarmTypes": ["MetricAlarm"], "NextToken": "t1"})
        found = {r.id: r.attributes for r in metric_alarms(ctx)}
        stub.add_client_error("describe_alarms", "AccessDenied", "not authorized", 403)
        with pytest.raises(ClientError):
            list(metric_alarms(ctx))
        stub.assert_no_pending_responses()

    assert sorted(found) == ["a", "b"]
    assert found["b"]["extended_statistic"] == "p99" and found["b"]["state_value"] == "ALARM"


def test_dashboards(ctx, cw):
    body = {"widgets": [
        {"type": "metric", "properties": {"metrics": [
            ["AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", "app-db"],
            [".", "FreeStorageSpace", ".", "."],
            ["AWS/ECS", "CPUUtilization", "ClusterName", "c", "ServiceName", "web", {"stat": "p90"}],
            ["...", "worker"],
            [{"expression": "SUM(METRICS())", "label": "total"}],
        ]}},
        {"type": "text", "properties": {"markdown": "# Runbook"}},
        {"type": "alarm", "properties": {"alarms": ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:x"]}},
        {"type": "metric", "properties": {"metrics": "not-a-list"}},
        "not-a-widget",
    ]}
    cw.put_dashboard(DashboardName="ops", DashboardBody=json.dumps(body))
    cw.put_dashboard(DashboardName="odd", DashboardBody=json.dumps({"widgets": {"a": 1}}))

    found = {r.id: r for r in dashboards(ctx)}

    ops = found["ops"]
    assert ops.arn == "arn:aws:cloudwatch::123456789012:dashboard/ops"
    assert ops.attributes == {
        "dashboard_name": "ops", "widget_count": 4, "widget_types": ["alarm", "metric", "text"],
        "metrics": ["AWS/ECS/CPUUtilization", "AWS/RDS/CPUUtilization", "AWS/RDS/FreeStorageSpace"],
        "dimension_values": ["app-db", "c", "web", "worker"],   # "." and "..." resolved
    }
    assert found["odd"].attributes["widget_count"] is None
    assert found["odd"].attributes["metrics"] == []


def test_dashboard_denied_get_leaves_its_body_unknown(ctx):
    client = ctx.client("cloudwatch")
    with Stubber(client) as stub:
        stub.add_response("list_dashboards", {"DashboardEntries": [{"DashboardName": "ops"}]}, {})
        stub.add_client_error("get_dashboard", "AccessDenied", "not authorized", 403)
        (ops,) = dashboards(ctx)
    assert set(ops.unknown) == {"widget_count", "widget_types", "metrics", "dimension_values"}
    assert ops.attributes["metrics"] is None and ops.attributes["dashboard_name"] == "ops"
    (fault,) = ctx.faults
    assert (fault.operation, fault.code, fault.category, fault.resource_id) == ("GetDashboard", "AccessDenied", "denied", "ops")
