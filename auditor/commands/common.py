"""What several commands share: exit codes, UsageError and its one-line message, the audit options
and checked ruleset of the parsed arguments, and writing a report with its exit code."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..audit import AuditOptions, load_ruleset
from ..coverage import applied_to_nothing
from ..report import render, status
from ..results import AuditResult, FleetResult

EXIT_OK, EXIT_FINDINGS, EXIT_INCOMPLETE = 0, 1, 2


class UsageError(Exception):
    """A usage or input error, found before any AWS call where possible: ``error: MESSAGE``, exit 2."""


def usage_error(message: str) -> int:
    """The one way a usage or input error ends: one line on stderr, exit code 2."""
    print(f"error: {message}", file=sys.stderr)
    return EXIT_INCOMPLETE


def emit(text: str, output: Path | None) -> None:
    if output:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--output {output}: cannot write: {exc.strerror or exc}") from exc
    else:
        sys.stdout.write(text)


def check_param_names(ruleset: Any, given: dict[str, str]) -> None:
    """Every parameter given (name -> where it was given, e.g. ``--param NAME``) is one of the loaded packs'."""
    known = sorted({name for lp in ruleset.packs for name in lp.pack.params})
    for name, where in given.items():
        if name not in known:
            raise UsageError(f"{where}: no such parameter; the selected packs define "
                             + (", ".join(known) if known else "none"))


def checked_ruleset(args: argparse.Namespace, options: AuditOptions) -> Any:
    ruleset = load_ruleset(options.architecture, options.rule_paths, options.params)
    check_param_names(ruleset, {name: f"--param {name}" for name, _ in args.param})
    return ruleset


def exit_code(result: AuditResult | FleetResult, fail_on: str, require_coverage: bool = False) -> int:
    if not result.complete:
        return EXIT_INCOMPLETE
    if require_coverage:
        silent = applied_to_nothing(result.findings, result.architecture_packs)
        if silent:
            sys.stderr.write(status.not_covered(silent))
            return EXIT_INCOMPLETE
    return EXIT_FINDINGS if result.failing(fail_on) else EXIT_OK


def audit_options(args: argparse.Namespace, region: str | None = None) -> AuditOptions:
    return AuditOptions(architecture=args.architecture, environment=args.environment,
                        region=region or getattr(args, "region", None), profile=getattr(args, "profile", None),
                        rule_paths=tuple(args.rules), params=dict(args.param),
                        environment_tag=args.environment_tag, max_attempts=args.max_attempts,
                        waivers=getattr(args, "waivers", None), prices=args.prices, alb_lcu=args.alb_lcu,
                        baseline=getattr(args, "baseline", "deployments"))


def report(args: argparse.Namespace, result: AuditResult | FleetResult) -> int:
    emit(render(result, args.format, color=sys.stdout.isatty() and not args.output), args.output)
    return exit_code(result, args.fail_on, getattr(args, "require_coverage", False))
