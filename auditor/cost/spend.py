"""Month-to-date spend of each deployment, read from Cost Explorer at most once per ``max_age``
(each request is billed) and filtered on the cost-allocation tags that mark the deployment."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import date

from ..aws import AwsContext
from ..model import Snapshot
from ..rules.engine import RuleSet
from ..rules.schema import Condition
from .actual import ActualSpend, month_to_date
from .deployment import DeploymentCost


def selector_tag_keys(conditions: list[Condition]) -> list[str]:
    """Tag keys that a pack's selector pins with ``eq`` (e.g. ``tags.Project``)."""
    return [c.key.split(".", 1)[1] for c in conditions
            if c.op == "eq" and c.key and c.key.startswith("tags.") and c.key.count(".") == 1]


def deployment_tags(cost: DeploymentCost, snapshot: Snapshot, ruleset: RuleSet,
                    environment_tag: str) -> dict[str, str]:
    """The tags every resource of the deployment shares among its selector's tag keys and the
    environment tag: the Cost Explorer filter that isolates its spend."""
    pack = next(s.pack for s in ruleset.selectors if s.pack.pack == cost.architecture)
    keys = [*selector_tag_keys(pack.selector), environment_tag]
    resources = [r for r in (snapshot.get(t, i) for t, i in cost.resource_ids) if r is not None and r.tags]
    out = {}
    for key in dict.fromkeys(keys):
        values = {r.tags.get(key) for r in resources}
        if len(values) == 1 and None not in values:
            out[key] = str(values.pop())
    return out


class SpendReader:
    """Cost Explorer answers per tag filter, reused for ``max_age_seconds`` (0: always ask)."""

    def __init__(self, max_age_seconds: float = 0.0, clock: Callable[[], float] = time.monotonic):
        self.max_age = max_age_seconds
        self.clock = clock
        self._cache: dict[tuple, tuple[float, ActualSpend]] = {}
        self._lock = threading.Lock()

    def read(self, aws: AwsContext, cost: DeploymentCost, snapshot: Snapshot, ruleset: RuleSet,
             environment_tag: str, today: date) -> ActualSpend:
        tags = deployment_tags(cost, snapshot, ruleset, environment_tag)
        key = (snapshot.account, today.isoformat()[:7], tuple(sorted(tags.items())))
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and self.clock() - hit[0] < self.max_age:
                return hit[1]
        spend = month_to_date(aws.client("ce"), today, tags)
        with self._lock:
            self._cache[key] = (self.clock(), spend)
        return spend
