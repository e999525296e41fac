"""What the cost estimate adds to an audit, measured side by side in one run (this machine is noisy:
compare the ratios, not the absolute figures).

1. Collection on the emulated mattilda production account: the types the rules need, against those
   plus the types the estimate needs, alternated run by run.
2. Estimating and scoping deployments on a synthetic snapshot of N copies of that deployment.

    .venv/bin/python benchmarks/cost_overhead.py [--runs 7] [--copies 200]
"""
from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

from auditor.audit import load_ruleset
from auditor.collect import collect
from auditor.cost.deployment import deployment_costs, needed_types
from auditor.cost.prices import PriceTable
from auditor.emulated.demo import emulated_account
from auditor.model import Resource, Snapshot


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _copy(r: Resource, i: int) -> Resource:
    a = dict(r.attributes)
    for key in ("arn_suffix", "cluster_name"):
        if isinstance(a.get(key), str):
            a[key] = f"{a[key]}#{i}"
    if "dimension_values" in a:
        a["dimension_values"] = [f"{v}#{i}" for v in a["dimension_values"]]
    relations = {k: v for k, v in r.relations.items() if k != "alarms"}
    relations["alarms"] = [{**x, "name": f"{x['name']}#{i}"} for x in r.relations.get("alarms") or []]
    return replace(r, id=f"{r.id}#{i}", name=f"{r.name}#{i}" if r.name else None, environment=f"env{i}",
                   tags={**r.tags, "Environment": f"env{i}"}, attributes=a, relations=relations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--copies", type=int, default=200)
    args = parser.parse_args()
    ruleset = load_ruleset("mattilda")
    prices = PriceTable.load()
    rules_only, with_cost = ruleset.resource_types, ruleset.resource_types | needed_types()
    with emulated_account("mattilda") as aws:
        base, full = [], []
        for _ in range(args.runs):
            base.append(timed(lambda: collect(aws, only_types=rules_only)))
            full.append(timed(lambda: collect(aws, only_types=with_cost)))
        calls_before = sum(aws.stats.calls.values())
        snapshot = collect(aws, only_types=with_cost)
        calls_full = sum(aws.stats.calls.values()) - calls_before
    b, f = statistics.median(base), statistics.median(full)
    print(f"collection, median of {args.runs}: rules only {b * 1000:.0f} ms, rules + cost {f * 1000:.0f} ms "
          f"(ratio {f / b:.2f}); {len(snapshot)} resources, {calls_full} API calls with cost types")
    print(f"extra types collected for the estimate: {sorted(with_cost - rules_only) or 'none'}")

    # N copies of the deployment, each its own environment (so one deployment to estimate) with its own
    # names, so that alarms and dashboards are matched to their own copy only.
    copies = [_copy(r, i) for i in range(args.copies) for r in snapshot]
    big = Snapshot(snapshot.account, snapshot.region, copies)
    durations = [timed(lambda: deployment_costs(big, ruleset, prices)) for _ in range(3)]
    costs = deployment_costs(big, ruleset, prices)
    lines = sum(len(c.estimate.lines) for c in costs)
    d = statistics.median(durations)
    print(f"estimate: {len(big)} resources, {len(costs)} deployments, {lines} lines in {d * 1000:.0f} ms "
          f"({d / len(big) * 1e6:.1f} µs per resource)")


if __name__ == "__main__":
    main()
