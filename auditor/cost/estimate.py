"""The monthly bill of deployed resources, line by line: pure, from a snapshot and a price table.

Every line carries its quantity, unit price, price key and formula. A line whose price the table
lacks is ``unpriced`` (its dollars unknown, never 0); usage-driven charges that configuration cannot
tell (NAT data processed, load balancer traffic beyond the assumed LCUs) are ``not_estimated`` and
say so. One function per resource type, registered in :data:`ESTIMATORS`; a line's service label
is its type's ``cost`` (:class:`~auditor.collect.types.ResourceType`).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..collect import resource_types
from ..model import Resource, Snapshot
from .prices import Price, PriceTable

SERVICES = ("fargate", "rds", "elasticache", "nat_gateway", "load_balancer", "secrets_manager",
            "cloudwatch", "ecr")
GIB = 1024 ** 3


@dataclass(frozen=True)
class Assumptions:
    """What configuration cannot tell, stated on the lines that use it."""

    hours_per_month: float = 730.0     # AWS's monthly convention (8760 h / 12)
    alb_lcu: float = 1.0               # LCUs a load balancer is assumed to use all month


@dataclass(frozen=True)
class Line:
    service: str
    resource: Mapping[str, Any]        # {type, id, name}
    item: str                          # what is charged, e.g. "vCPU", "instance (Multi-AZ)"
    quantity: float | None             # in ``unit``s per month
    unit: str
    unit_price: float | None
    price_key: str | None
    monthly_usd: float | None          # None unless status is "estimated"
    formula: str
    status: str = "estimated"          # estimated, unpriced (no price: dollars unknown) or not_estimated (usage)
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"service": self.service, "resource": dict(self.resource), "item": self.item,
                "quantity": self.quantity, "unit": self.unit, "unit_price_usd": self.unit_price,
                "price_key": self.price_key, "monthly_usd": _cents(self.monthly_usd),
                "formula": self.formula, "status": self.status, "note": self.note}


@dataclass(frozen=True)
class Estimate:
    lines: tuple[Line, ...]
    assumptions: Assumptions = field(default_factory=Assumptions)

    @property
    def total_usd(self) -> float:
        """The sum of the priced lines (a lower bound when some lines are unpriced)."""
        return round(sum(line.monthly_usd or 0.0 for line in self.lines), 2)

    @property
    def unpriced(self) -> tuple[Line, ...]:
        return tuple(line for line in self.lines if line.status == "unpriced")

    @property
    def complete(self) -> bool:
        return not self.unpriced

    def by_service(self) -> dict[str, float]:
        out = {s: 0.0 for s in SERVICES if any(line.service == s for line in self.lines)}
        for line in self.lines:
            out[line.service] = out.get(line.service, 0.0) + (line.monthly_usd or 0.0)
        return {s: round(v, 2) for s, v in out.items()}

    def biggest(self, n: int = 3) -> list[Line]:
        priced = [line for line in self.lines if line.monthly_usd]
        return sorted(priced, key=lambda line: -(line.monthly_usd or 0.0))[:n]


def _cents(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _num(value: float) -> str:
    """A quantity as people write it: 2, 0.5, 1460, 0.0031."""
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.4f}".rstrip("0").rstrip(".") if abs(value) < 1 else f"{value:,.2f}".rstrip("0").rstrip(".")


def count(value: float, noun: str) -> str:
    """``2 tasks``, ``1 node``: a number with its noun, plural unless exactly one."""
    return f"{_num(value)} {noun}{'' if value == 1 else 's'}"


def usd(value: float | None) -> str:
    if value is None:
        return "unknown"
    return f"${value:,.2f}"


def unit_price(price: Price | None) -> str:
    if price is None:
        return "no price"
    text = f"{price.usd:.6f}".rstrip("0")
    return f"${text + '0' * max(0, 2 - len(text.split('.')[1]))}/{price.unit}"


def _ref(resource: Resource) -> dict[str, Any]:
    """The resource of a line: type, id and name."""
    return {"type": resource.type, "id": resource.id, "name": resource.name}


class _Pricer:
    """Builds lines for one resource from factors and a price key."""

    def __init__(self, prices: PriceTable, region: str, assumptions: Assumptions):
        self.prices, self.region, self.assumptions = prices, region, assumptions

    def line(self, resource: Resource, item: str, key: str,
             factors: Iterable[tuple[float, str]], note: str | None = None) -> Line:
        """``quantity`` = product of ``factors`` (value, label); monthly = quantity x unit price."""
        service = LABELS[resource.type]
        factors = list(factors)
        quantity = 1.0
        for value, _label in factors:
            quantity *= value
        price = self.prices.get(self.region, key)
        shown = " × ".join(label for _v, label in factors)
        ref = _ref(resource)
        if price is None:
            return Line(service, ref, item, quantity, "", None, key, None,
                        f"{shown} × (no price for {key} in {self.region})", "unpriced",
                        note or f"the price table has no {key} for {self.region}: run auditor prices refresh")
        return Line(service, ref, item, quantity, price.unit, price.usd, key, quantity * price.usd,
                    f"{shown} × {unit_price(price)}", "estimated", note)

    def not_estimated(self, resource: Resource, item: str, key: str, why: str) -> Line:
        service = LABELS[resource.type]
        price = self.prices.get(self.region, key)
        ref = _ref(resource)
        rate = f" at {unit_price(price)}" if price else ""
        return Line(service, ref, item, None, price.unit if price else "", price.usd if price else None,
                    key, None, f"usage-based{rate}: {why}", "not_estimated")

    @property
    def hours(self) -> tuple[float, str]:
        h = self.assumptions.hours_per_month
        return h, f"{_num(h)} h"


Estimator = Callable[[Resource, Snapshot, _Pricer], Iterator[Line]]
ESTIMATORS: dict[str, Estimator] = {}


def estimator(rtype: str) -> Callable[[Estimator], Estimator]:
    def register(fn: Estimator) -> Estimator:
        ESTIMATORS[rtype] = fn
        return fn
    return register


LABELS: dict[str, str] = {name: t.cost for name, t in resource_types().items() if t.cost}
"""The service label of each priced type's lines (its description's ``cost``)."""
COST_TYPES = frozenset(LABELS)
"""The resource types an estimate reads (task definitions are read through their services)."""


def estimate(resources: Iterable[Resource], snapshot: Snapshot, prices: PriceTable,
             assumptions: Assumptions | None = None) -> Estimate:
    """The lines of ``resources`` (of one deployment), priced for the snapshot's region."""
    assumptions = assumptions or Assumptions()
    pricer = _Pricer(prices, snapshot.region, assumptions)
    lines = [line for r in resources if r.type in ESTIMATORS for line in ESTIMATORS[r.type](r, snapshot, pricer)]
    order = {s: i for i, s in enumerate(SERVICES)}
    lines.sort(key=lambda line: (order.get(line.service, len(order)), str(line.resource.get("name") or
                                                                          line.resource["id"])))
    return Estimate(tuple(lines), assumptions)


# --------------------------------------------------------------------------- ECS on Fargate
FARGATE_FREE_EPHEMERAL_GIB = 20


@estimator("ecs_service")
def _ecs_service(svc: Resource, snapshot: Snapshot, p: _Pricer) -> Iterator[Line]:
    a = svc.attributes
    providers = [s.get("capacity_provider") for s in a.get("capacity_provider_strategy") or []]
    on_fargate = a.get("launch_type") == "FARGATE" or any(str(x).startswith("FARGATE") for x in providers)
    if not on_fargate:
        yield p.not_estimated(svc, "tasks on EC2 capacity", "fargate:vcpu:linux-x86_64",
                              f"launch type {a.get('launch_type') or 'capacity providers ' + ', '.join(map(str, providers))}: "
                              "the container instances are EC2 instances, which are not collected")
        return
    task = snapshot.get("ecs_task_definition", str(a.get("task_definition_arn")))
    n = float(a.get("desired_count") or 0)
    cpu, memory = _task_size(task)
    if task is None or cpu is None or memory is None:
        why = "task definition not found" if task is None else "task definition has no task-level cpu/memory"
        yield Line(LABELS[svc.type], _ref(svc), "tasks", n, "task", None, None, None, why, "unpriced", why)
        return
    platform = task.attributes.get("runtime_platform") or {}
    os_arch = f"{str(platform.get('operating_system_family') or 'LINUX').lower()}-" \
              f"{str(platform.get('cpu_architecture') or 'X86_64').lower()}"
    spot = "FARGATE_SPOT" in providers
    prefix = "fargate-spot" if spot else "fargate"
    note = "Fargate Spot is priced by the hour, not in the on-demand table" if spot else None
    tasks = (n, count(n, "task"))
    yield p.line(svc, "vCPU", f"{prefix}:vcpu:{os_arch}",
                 [tasks, (cpu, f"{_num(cpu)} vCPU"), p.hours], note)
    yield p.line(svc, "memory", f"{prefix}:memory:{os_arch}",
                 [tasks, (memory, f"{_num(memory)} GB"), p.hours], note)
    storage = task.attributes.get("ephemeral_storage_gib")
    if storage and storage > FARGATE_FREE_EPHEMERAL_GIB:
        extra = float(storage - FARGATE_FREE_EPHEMERAL_GIB)
        yield p.line(svc, f"ephemeral storage above {FARGATE_FREE_EPHEMERAL_GIB} GB",
                     "fargate:ephemeral-storage", [tasks, (extra, f"{_num(extra)} GB"), p.hours])


def _task_size(task: Resource | None) -> tuple[float | None, float | None]:
    """Task-level vCPU and GB (cpu units / 1024, memory MiB / 1024)."""
    if task is None:
        return None, None
    try:
        cpu = float(task.attributes.get("cpu")) / 1024
        memory = float(task.attributes.get("memory")) / 1024
    except (TypeError, ValueError):
        return None, None
    return cpu, memory


# --------------------------------------------------------------------------- RDS
# gp3 includes a baseline of IOPS and throughput; RDS raises it at 400 GB (PostgreSQL, MySQL, MariaDB).
GP3_BASELINE = ((400, 12000, 500), (0, 3000, 125))   # (from GB, IOPS, MiBps)


@estimator("rds_instance")
def _rds_instance(db: Resource, _snapshot: Snapshot, p: _Pricer) -> Iterator[Line]:
    a = db.attributes
    multi_az = bool(a.get("multi_az"))
    az = (2.0, "2 (Multi-AZ)") if multi_az else (1.0, "1 (Single-AZ)")
    engine = str(a.get("engine") or "unknown")
    if a.get("status") == "stopped":
        yield p.line(db, "instance (stopped: hours not billed)", f"rds:instance:{engine}:{a.get('instance_class')}",
                     [(0.0, "0 h")], "a stopped instance bills storage only; AWS starts it again after 7 days")
    else:
        yield p.line(db, "instance" + (" (Multi-AZ)" if multi_az else ""),
                     f"rds:instance:{engine}:{a.get('instance_class')}", [az, p.hours])
    if a.get("db_cluster_identifier"):
        yield p.not_estimated(db, "cluster storage", f"rds:storage:{engine}",
                              "Aurora storage and I/O are billed on the cluster by use")
        return
    storage_type = str(a.get("storage_type") or "gp2")
    gb = float(a.get("allocated_storage") or 0)
    yield p.line(db, f"storage {storage_type}", f"rds:storage:{storage_type}",
                 [az, (gb, f"{_num(gb)} GB")])
    iops, throughput = a.get("iops"), a.get("storage_throughput")
    if storage_type == "gp3":
        _from, base_iops, base_mibps = next(b for b in GP3_BASELINE if gb >= b[0])
        if iops and iops > base_iops:
            extra = float(iops - base_iops)
            yield p.line(db, f"gp3 IOPS above {base_iops:,}", "rds:iops:gp3",
                         [az, (extra, f"{_num(extra)} IOPS")])
        if throughput and throughput > base_mibps:
            extra = float(throughput - base_mibps)
            yield p.line(db, f"gp3 throughput above {base_mibps} MiBps", "rds:throughput:gp3",
                         [az, (extra, f"{_num(extra)} MiBps")])
    elif storage_type in ("io1", "io2") and iops:
        yield p.line(db, f"provisioned IOPS {storage_type}", f"rds:iops:{storage_type}",
                     [az, (float(iops), f"{_num(float(iops))} IOPS")])


# --------------------------------------------------------------------------- ElastiCache
@estimator("elasticache_replication_group")
def _replication_group(rg: Resource, _snapshot: Snapshot, p: _Pricer) -> Iterator[Line]:
    a = rg.attributes
    nodes = float(len(a.get("member_clusters") or []) or a.get("num_cache_clusters") or 0)
    yield p.line(rg, "nodes", f"elasticache:node:{a.get('engine') or 'redis'}:{a.get('cache_node_type')}",
                 [(nodes, count(nodes, "node")), p.hours])


@estimator("elasticache_cluster")
def _cache_cluster(cc: Resource, _snapshot: Snapshot, p: _Pricer) -> Iterator[Line]:
    a = cc.attributes
    nodes = float(a.get("num_cache_nodes") or 0)
    yield p.line(cc, "nodes", f"elasticache:node:{a.get('engine') or 'redis'}:{a.get('cache_node_type')}",
                 [(nodes, count(nodes, "node")), p.hours])


# --------------------------------------------------------------------------- network
@estimator("nat_gateway")
def _nat_gateway(nat: Resource, _snapshot: Snapshot, p: _Pricer) -> Iterator[Line]:
    if nat.attributes.get("state") not in ("available", "pending"):
        return
    yield p.line(nat, "gateway hours", "ec2:nat-gateway", [(1.0, "1 gateway"), p.hours])
    yield p.not_estimated(nat, "data processed", "ec2:nat-gateway-data",
                          "depends on the traffic through the gateway")


_LB_KEYS = {"application": ("elb:application", "LCU"), "network": ("elb:network", "NLCU")}


@estimator("load_balancer")
def _load_balancer(lb: Resource, _snapshot: Snapshot, p: _Pricer) -> Iterator[Line]:
    kind = str(lb.attributes.get("load_balancer_type") or "application")
    key, capacity = _LB_KEYS.get(kind, (f"elb:{kind}", "LCU"))
    yield p.line(lb, f"{kind} load balancer hours", key, [(1.0, "1 load balancer"), p.hours])
    lcu = p.assumptions.alb_lcu
    yield p.line(lb, f"{capacity}s (assumed minimum)", f"{key}-lcu",
                 [(lcu, f"{_num(lcu)} {capacity} (assumed)"), p.hours],
                 f"assumes {_num(lcu)} {capacity} all month; traffic above it is not estimated")


# --------------------------------------------------------------------------- small monthly items
@estimator("secret")
def _secret(secret: Resource, _snapshot: Snapshot, p: _Pricer) -> Iterator[Line]:
    yield p.line(secret, "secret", "secretsmanager:secret", [(1.0, "1 secret")])


HIGH_RESOLUTION_PERIOD = 60   # alarms evaluated more often than each minute cost more


@estimator("cloudwatch_alarm")
def _alarm(alarm: Resource, _snapshot: Snapshot, p: _Pricer) -> Iterator[Line]:
    a = alarm.attributes
    queries = a.get("metrics") or []
    metrics = [q for q in queries if q.get("metric_name")] if queries else [a]
    periods = [q.get("period") for q in metrics if q.get("period")]
    high = any(period < HIGH_RESOLUTION_PERIOD for period in periods)
    n = float(len(metrics))
    yield p.line(alarm, "alarm (high resolution)" if high else "alarm",
                 "cloudwatch:alarm-high-resolution" if high else "cloudwatch:alarm-standard",
                 [(n, count(n, "metric"))],
                 "free tier not applied: 10 standard alarm metrics per account are free")


@estimator("cloudwatch_dashboard")
def _dashboard(dashboard: Resource, _snapshot: Snapshot, p: _Pricer) -> Iterator[Line]:
    yield p.line(dashboard, "dashboard", "cloudwatch:dashboard", [(1.0, "1 dashboard")],
                 "free tier not applied: 3 dashboards per account are free")


@estimator("log_group")
def _log_group(group: Resource, _snapshot: Snapshot, p: _Pricer) -> Iterator[Line]:
    gb = float(group.attributes.get("stored_bytes") or 0) / GIB
    yield p.line(group, "log storage", "cloudwatch:logs-storage", [(gb, f"{_num(round(gb, 4))} GB stored")],
                 "ingestion is billed by volume and not estimated")


@estimator("ecr_repository")
def _ecr(repo: Resource, _snapshot: Snapshot, p: _Pricer) -> Iterator[Line]:
    stored = repo.attributes.get("image_bytes")
    if "image_bytes" in repo.unknown:   # the image sizes could not be read: the storage line is unknown, not 0
        why = f"image sizes unknown ({repo.unknown['image_bytes']})"
        yield Line(LABELS[repo.type], _ref(repo), "image storage", None, "GB", None, "ecr:storage", None, why, "unpriced", why)
        return
    if stored is None:
        return
    gb = float(stored) / GIB
    images = float(repo.attributes.get("image_count") or 0)
    yield p.line(repo, "image storage", "ecr:storage",
                 [(gb, f"{_num(round(gb, 4))} GB in {count(images, 'image')}")],
                 "sum of compressed image sizes: layers shared between images are billed once")
