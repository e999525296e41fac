"""What deriving deployments by ownership costs an evaluation, measured side by side in one run
(this machine is noisy: compare the ratios, not the absolute figures).

The emulated mattilda production account, tagged the way real teams tag (``owners``) with the
billing neighbour beside it, collected once; then N copies of it, each its own environment and
names, so N deployments. For each N: deriving the deployments alone, and the whole evaluation
(derivation included) per deployment and per resource. The copies' renamed secrets and log groups
no longer match the documented names, so every name-based rule looks through all resources of
its type in every deployment: the worst case, growing with N x resources.

    .venv/bin/python benchmarks/deployments_overhead.py [--copies 25 50 100]
"""
from __future__ import annotations

import argparse
import statistics
import time

from cost_overhead import _copy

from auditor.audit import load_ruleset
from auditor.aws import AwsContext
from auditor.collect import collect
from auditor.deployments import membership_types
from auditor.emulated.demo import REGION, deploy_many, fake_session, moto_server
from auditor.model import Snapshot


def median_seconds(fn, runs: int = 3) -> float:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def unmemoized(snapshot: Snapshot) -> Snapshot:
    """The same resources in a new snapshot: nothing derived from it is cached yet."""
    return Snapshot(snapshot.account, snapshot.region, list(snapshot))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--copies", type=int, nargs="+", default=[25, 50, 100])
    args = parser.parse_args()
    ruleset = load_ruleset("mattilda")
    with moto_server() as endpoint:
        deploy_many(endpoint, [("mattilda", "production")], tagging="owners", neighbour=True)
        aws = AwsContext(region=REGION, session=fake_session(), endpoint_url=endpoint, max_attempts=2)
        snapshot = collect(aws, only_types=ruleset.resource_types | membership_types())
    print(f"one account: {len(snapshot)} resources, {len(ruleset.deployments(snapshot))} mattilda deployment(s)")
    for n in args.copies:
        big = Snapshot(snapshot.account, snapshot.region, [_copy(r, i) for i in range(n) for r in snapshot])
        derive = median_seconds(lambda big=big: ruleset.deployments(unmemoized(big)))
        evaluate = median_seconds(lambda big=big: ruleset.evaluate(unmemoized(big)))
        deployments = len(ruleset.deployments(big))
        print(f"{n:4d} copies: {len(big):6d} resources, {deployments:4d} deployments; derive {derive * 1000:7.0f} ms, "
              f"evaluate {evaluate * 1000:7.0f} ms (derivation {derive / evaluate:.0%} of it; "
              f"{evaluate / len(big) * 1e6:.0f} µs per resource)")


if __name__ == "__main__":
    main()
