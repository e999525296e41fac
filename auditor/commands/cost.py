"""``auditor cost``: the monthly estimate of an architecture's deployments, real or emulated."""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from ..audit import run_audit
from ..rules.loader import architecture_names
from .common import EXIT_FINDINGS, EXIT_INCOMPLETE, EXIT_OK, audit_options, checked_ruleset, emit, usage_error


def cmd_cost(args: argparse.Namespace) -> int:
    from ..cost.deployment import budget_status
    from ..cost.spend import SpendReader
    from ..model import normalize_environment
    from ..report.cost import render_costs, selected_costs

    if not args.architecture:
        return usage_error(f"--architecture is required (one of {', '.join(architecture_names())})")
    environment = normalize_environment(args.environment)
    options = audit_options(args)
    options = replace(options, environment=None)   # --environment picks a deployment here, not a tag
    ruleset = checked_ruleset(args, options)
    spend = SpendReader() if args.actual else None
    results = []
    if args.emulated:
        from ..emulated.architectures import ENVIRONMENTS
        from ..emulated.demo import emulated_account
        documented = ENVIRONMENTS.get(args.architecture, ())
        if environment and environment not in documented:
            return usage_error(f"{args.architecture} documents the environments {', '.join(documented)}, "
                               f"not {args.environment!r}")
        for env in [environment] if environment else documented:
            with emulated_account(args.architecture, env) as aws:
                results.append(run_audit(options, ruleset, aws=aws, spend=spend))
    else:
        results.append(run_audit(options, ruleset, spend=spend))
    emit(render_costs(results, args.format, environment, color=sys.stdout.isatty() and not args.output), args.output)
    if any(not r.complete for r in results):
        return EXIT_INCOMPLETE
    over = [c for r in results for c in selected_costs(r, environment) if budget_status(r.findings, c) == "fail"]
    return EXIT_FINDINGS if over else EXIT_OK
