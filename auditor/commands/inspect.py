"""``auditor inspect``: the documents rules see for one resource type, whole, from the live account
or an emulated deployment; with ``--rule``, that rule explained condition by condition on each."""
from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from ..audit import AuditOptions, audited_types, known_resource_types, load_prices
from ..aws import AwsContext
from ..model import Resource, Snapshot
from ..rules.engine import CompiledRule, RuleSet
from .common import EXIT_OK, UsageError, checked_ruleset, emit

SHOWN_IDS = 10


def cmd_inspect(args: argparse.Namespace) -> int:
    from ..report.inspect import render_documents, render_explanations

    rtype = _known_type(args.type)
    options = AuditOptions(architecture=args.architecture or args.emulated, region=args.region, profile=args.profile,
                           rule_paths=tuple(args.rules), params=dict(args.param))
    ruleset = checked_ruleset(args, options)
    rule = _rule(ruleset, args.rule, rtype) if args.rule else None
    with _account(args) as aws:
        snapshot = judged_snapshot(aws, ruleset, rtype)
    for line in _warnings(snapshot):
        print(f"warning: {line}", file=sys.stderr)
    resources = _matching(snapshot, rtype, args.id)
    if rule is not None:
        emit(render_explanations(ruleset.explain(snapshot, rule, resources), args.format or "text"), None)
    else:
        pairs = ruleset.documents(snapshot, resources)
        emit(render_documents(pairs, args.format or "yaml", single=args.id is not None and len(pairs) == 1), None)
    return EXIT_OK


def judged_snapshot(aws: AwsContext, ruleset: RuleSet, rtype: str) -> Snapshot:
    """What an audit's rules judge, as :func:`auditor.audit.run_audit` builds it, collecting only
    what ``rtype``'s documents need: its types and, with architecture packs, what deriving the
    deployments and their ``deployment`` resources needs."""
    from ..collect import collect
    from ..cost.deployment import deployment_costs, deployment_resources
    from ..cost.estimate import Assumptions
    from ..relations import requires

    snapshot = collect(aws, only_types=audited_types(ruleset, requires(rtype)))
    costs = deployment_costs(snapshot, ruleset, load_prices(None), Assumptions())
    return snapshot.with_resources(deployment_resources(costs, snapshot))


@contextmanager
def _account(args: argparse.Namespace) -> Iterator[AwsContext]:
    """The live account (--region, --profile), or ``--emulated ARCH``'s deployment built in moto."""
    if not args.emulated:
        yield AwsContext(region=args.region, profile=args.profile)
        return
    from ..emulated.architectures import ENVIRONMENTS
    from ..emulated.demo import REGION, emulated_account

    if args.emulated not in ENVIRONMENTS:
        raise UsageError(f"--emulated {args.emulated}: no such architecture (known: {', '.join(sorted(ENVIRONMENTS))})")
    with ExitStack() as stack:
        try:   # an undocumented environment, an unknown drift, a region without the zones the spec places subnets in
            aws = stack.enter_context(emulated_account(args.emulated, args.deploy_environment, args.drift,
                                                       region=args.region or REGION))
        except (KeyError, ValueError) as exc:
            raise UsageError(str(exc.args[0]) if exc.args else str(exc)) from exc
        yield aws


def _known_type(name: str) -> str:
    known = sorted(known_resource_types())
    if name in known:
        return name
    closest = difflib.get_close_matches(name, known, n=1, cutoff=0.0)
    raise UsageError(f"unknown resource type {name!r}" + (f": did you mean {closest[0]}?" if closest else "")
                     + f" (known: {', '.join(known)})")


def _rule(ruleset: RuleSet, rule_id: str, rtype: str) -> CompiledRule:
    rules = {cr.rule.id: cr for cr in ruleset.rules}
    if rule_id not in rules:
        closest = difflib.get_close_matches(rule_id, list(rules), n=1)
        raise UsageError(f"--rule {rule_id}: no such rule in the loaded packs"
                         + (f" (did you mean {closest[0]}?)" if closest else " (see 'auditor rules list')"))
    cr = rules[rule_id]
    if cr.rule.resource != rtype:
        raise UsageError(f"--rule {rule_id} judges {cr.rule.resource}, not {rtype}: "
                         f"auditor inspect {cr.rule.resource} --rule {rule_id}")
    return cr


def _matching(snapshot: Snapshot, rtype: str, wanted: str | None) -> list[Resource]:
    """Every resource of ``rtype``, or those whose id, name or ARN is ``wanted``."""
    resources = list(snapshot.of_type(rtype))
    if wanted is None:
        return resources
    found = [r for r in resources if wanted in (r.id, r.name, r.arn)]
    if not found:
        ids = sorted(r.id for r in resources)
        known = ", ".join(ids[:SHOWN_IDS]) + (f", ... ({len(ids)} in all)" if len(ids) > SHOWN_IDS else "")
        raise UsageError(f"no {rtype} named {wanted} (known: {known or 'none'})")
    return found


def _warnings(snapshot: Snapshot) -> list[str]:
    """The AWS calls that failed, and what each left unknown."""
    return [f"{e.reason} (" + (f"no {', '.join(e.resource_types)} known" if e.whole_type else
                               f"{e.resource_types[0]} {e.resource_id}: {', '.join(e.attributes)} unknown") + ")"
            for e in snapshot.errors]
