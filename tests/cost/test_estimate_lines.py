"""Estimator rules line by line, on hand-made snapshots (no AWS): each case a formula to check."""
from __future__ import annotations

import pytest

from auditor.cost.estimate import Assumptions, estimate
from auditor.cost.prices import PriceTable
from auditor.model import Resource, Snapshot

H = 730
PRICES = PriceTable.load()


def _r(rtype: str, rid: str, **attributes) -> Resource:
    return Resource(rtype, rid, "123456789012", "us-east-1", name=rid, attributes=attributes)


def lines(*resources: Resource, region: str = "us-east-1", **assume):
    snapshot = Snapshot("123456789012", region, resources)
    est = estimate(snapshot, snapshot, PRICES, Assumptions(**assume))
    return est, {(line.resource["id"], line.item): line for line in est.lines}


def _task(rid: str, cpu: str = "512", memory: str = "1024", **more) -> Resource:
    return _r("ecs_task_definition", rid, cpu=cpu, memory=memory, **more)


def _service(rid: str, task: str, count: int = 2, **more) -> Resource:
    return _r("ecs_service", rid, **{"task_definition_arn": task, "desired_count": count, "launch_type": "FARGATE", **more})


def test_fargate_arm_and_ephemeral_storage_above_the_free_20_gb():
    _e, found = lines(_task("td", "1024", "3072", runtime_platform={"cpu_architecture": "ARM64",
                                                                      "operating_system_family": "LINUX"},
                            ephemeral_storage_gib=50), _service("svc", "td", 3))
    assert found[("svc", "vCPU")].monthly_usd == pytest.approx(3 * 1 * 0.03238 * H)
    assert found[("svc", "memory")].monthly_usd == pytest.approx(3 * 3 * 0.00356 * H)
    storage = found[("svc", "ephemeral storage above 20 GB")]
    assert storage.monthly_usd == pytest.approx(3 * 30 * 0.000111 * H)
    assert storage.formula == "3 tasks × 30 GB × 730 h × $0.000111/GB-hour"


def test_fargate_spot_windows_and_missing_task_definitions_are_unpriced_not_zero():
    est, found = lines(_task("td"), _service("spot", "td", capacity_provider_strategy=[
        {"capacity_provider": "FARGATE_SPOT", "weight": 1}], launch_type=None),
        _task("win", runtime_platform={"cpu_architecture": "X86_64", "operating_system_family": "WINDOWS_SERVER_2022_CORE"}),
        _service("windows", "win"), _service("orphan", "gone"))
    assert found[("spot", "vCPU")].status == "unpriced" and found[("spot", "vCPU")].price_key == "fargate-spot:vcpu:linux-x86_64"
    assert found[("windows", "vCPU")].status == "unpriced"
    assert found[("orphan", "tasks")].status == "unpriced" and found[("orphan", "tasks")].formula == "task definition not found"
    assert est.total_usd == 0.0 and not est.complete and len(est.unpriced) == 5


def test_ec2_launch_type_is_named_not_estimated():
    est, found = lines(_task("td"), _r("ecs_service", "ec2svc", task_definition_arn="td", desired_count=4, launch_type="EC2"))
    line = found[("ec2svc", "tasks on EC2 capacity")]
    assert line.status == "not_estimated" and "EC2 instances, which are not collected" in line.formula
    assert est.complete and est.total_usd == 0.0


def test_rds_gp3_extras_only_above_the_baseline_and_io1_iops():
    _e, found = lines(
        _r("rds_instance", "small", engine="postgres", instance_class="db.t4g.micro", multi_az=False,
           storage_type="gp3", allocated_storage=100, iops=3000, storage_throughput=125),
        _r("rds_instance", "big", engine="postgres", instance_class="db.m5.large", multi_az=True,
           storage_type="gp3", allocated_storage=500, iops=15000, storage_throughput=600),
        _r("rds_instance", "piops", engine="postgres", instance_class="db.r5.large", multi_az=False,
           storage_type="io1", allocated_storage=100, iops=2000))
    assert {k[1] for k in found if k[0] == "small"} == {"instance", "storage gp3"}
    assert found[("big", "instance (Multi-AZ)")].monthly_usd == pytest.approx(2 * 0.178 * H)
    assert found[("big", "storage gp3")].monthly_usd == pytest.approx(2 * 500 * 0.115)
    assert found[("big", "gp3 IOPS above 12,000")].monthly_usd == pytest.approx(2 * 3000 * 0.02)
    throughput = found[("big", "gp3 throughput above 500 MiBps")]
    assert throughput.status == "unpriced" and throughput.quantity == 2 * 100   # no confirmed price bundled
    assert found[("piops", "provisioned IOPS io1")].monthly_usd == pytest.approx(2000 * 0.10)
    assert found[("piops", "storage io1")].monthly_usd == pytest.approx(100 * 0.125)


def test_rds_stopped_aurora_and_unknown_engines():
    _e, found = lines(
        _r("rds_instance", "paused", engine="postgres", instance_class="db.t3.micro", status="stopped",
           storage_type="gp2", allocated_storage=50),
        _r("rds_instance", "aurora", engine="aurora-postgresql", instance_class="db.r6g.large",
           db_cluster_identifier="c1", storage_type="aurora"),
        _r("rds_instance", "maria", engine="mariadb", instance_class="db.t3.micro", storage_type="gp2", allocated_storage=20))
    stopped = found[("paused", "instance (stopped: hours not billed)")]
    assert stopped.monthly_usd == 0.0 and "storage only" in stopped.note
    assert found[("paused", "storage gp2")].monthly_usd == pytest.approx(50 * 0.115)
    assert found[("aurora", "instance")].status == "unpriced"
    assert found[("aurora", "cluster storage")].status == "not_estimated"
    assert found[("maria", "instance")].status == "unpriced" and found[("maria", "storage gp2")].status == "estimated"


def test_cache_nodes_nat_states_and_load_balancers():
    _e, found = lines(
        _r("elasticache_replication_group", "rg", engine="redis", cache_node_type="cache.r6g.large",
           member_clusters=["rg-001", "rg-002", "rg-003"]),
        _r("elasticache_cluster", "mc", engine="memcached", cache_node_type="cache.t3.micro", num_cache_nodes=2),
        _r("nat_gateway", "nat-up", state="available"), _r("nat_gateway", "nat-gone", state="deleted"),
        _r("load_balancer", "nlb", load_balancer_type="network"),
        _r("load_balancer", "alb", load_balancer_type="application"), alb_lcu=2.5)
    assert found[("rg", "nodes")].monthly_usd == pytest.approx(3 * 0.206 * H)
    assert found[("mc", "nodes")].status == "unpriced"   # only Redis OSS is bundled
    assert ("nat-gone", "gateway hours") not in found
    assert found[("nat-up", "data processed")].unit_price == 0.045 and found[("nat-up", "data processed")].monthly_usd is None
    assert found[("nlb", "NLCUs (assumed minimum)")].monthly_usd == pytest.approx(2.5 * 0.006 * H)
    assert found[("alb", "LCUs (assumed minimum)")].formula == "2.5 LCU (assumed) × 730 h × $0.008/LCU-hour"


def test_alarm_resolution_metric_math_dashboards_logs_and_ecr():
    _e, found = lines(
        _r("cloudwatch_alarm", "std", period=300),
        _r("cloudwatch_alarm", "fast", period=10),
        _r("cloudwatch_alarm", "math", metrics=[{"id": "m1", "metric_name": "RunningTaskCount", "period": 60},
                                                {"id": "m2", "metric_name": "DesiredTaskCount", "period": 60},
                                                {"id": "e1", "expression": "m2 - m1"}]),
        _r("cloudwatch_dashboard", "ops"),
        _r("log_group", "/ecs/app", stored_bytes=5 * 1024 ** 3),
        _r("ecr_repository", "app", image_bytes=2 * 1024 ** 3, image_count=4),
        _r("ecr_repository", "unknown", image_bytes=None))
    assert found[("std", "alarm")].monthly_usd == pytest.approx(0.10)
    assert found[("fast", "alarm (high resolution)")].monthly_usd == pytest.approx(0.30)
    assert found[("math", "alarm")].quantity == 2 and found[("math", "alarm")].formula == "2 metrics × $0.10/alarm-metric-month"
    assert found[("ops", "dashboard")].monthly_usd == 3.0
    assert found[("/ecs/app", "log storage")].monthly_usd == pytest.approx(5 * 0.03)
    assert found[("app", "image storage")].formula == "2 GB in 4 images × $0.10/GB-month"
    assert ("unknown", "image storage") not in found   # size not known: no line rather than $0


def test_image_sizes_that_could_not_be_read_are_an_unpriced_line_not_zero():
    denied = Resource("ecr_repository", "denied", "123456789012", "us-east-1", name="denied",
                      attributes={"image_bytes": None, "image_count": None},
                      unknown={"image_bytes": "ecr:DescribeImages AccessDeniedException: not authorized"})
    est, found = lines(denied)
    line = found[("denied", "image storage")]
    assert (line.status, line.monthly_usd, line.quantity) == ("unpriced", None, None)
    assert "ecr:DescribeImages AccessDeniedException" in line.note and not est.complete


def test_a_region_without_prices_prices_nothing():
    est, found = lines(_r("nat_gateway", "nat", state="available"), region="ap-southeast-7")
    line = found[("nat", "gateway hours")]
    assert line.status == "unpriced" and line.monthly_usd is None and "run auditor prices refresh" in line.note
    assert est.total_usd == 0.0 and not est.complete
