"""``auditor audit``: one account and region, or many (--targets, --role-arn, --organization), with
the state file and notification channels of --state and --notify."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from ..audit import run_audit, run_fleet
from ..aws import AuditSetupError
from ..report import status
from ..report.console import progress_bar
from ..targets import TargetsConfig
from .common import EXIT_INCOMPLETE, UsageError, audit_options, checked_ruleset, report, usage_error


def cmd_audit(args: argparse.Namespace) -> int:
    targets = _targets_config(args)
    if targets is not None:
        return _audit_targets(args, targets)
    options = audit_options(args, region=args.regions[0] if args.regions else None)
    ruleset = checked_ruleset(args, options)
    runtime = _state_runtime(args)
    if runtime is False:
        return EXIT_INCOMPLETE
    try:
        try:
            with progress_bar(not args.quiet) as progress:   # with --state: the changes since its last snapshot
                result = run_audit(options, ruleset, progress=progress,
                                   previous=runtime.previous_snapshot if runtime else None,
                                   warnings=runtime.store.warnings if runtime and runtime.store else ())
        except AuditSetupError as exc:
            if runtime:
                _delivery_summary(runtime.failed(exc))
            raise
        code = report(args, result)
        if runtime:
            _delivery_summary(runtime.finish(result))
        return code
    finally:
        if runtime:
            runtime.close()


def _audit_targets(args: argparse.Namespace, config: TargetsConfig) -> int:
    """One audit per account x region of ``config``, all in one report."""
    import boto3

    from ..notify.channel import AuditInfo
    from ..targets import resolve

    options = audit_options(args)
    ruleset = checked_ruleset(args, options)
    base = boto3.Session(profile_name=args.profile)
    targets = resolve(config, base)
    if not targets:
        raise UsageError("no account x region to audit" + (f" in shard {config.shard}" if config.shard else ""))
    runtime = _state_runtime(args)   # --state / --notify: each target's own rows, snapshot and messages
    if runtime is False:
        return EXIT_INCOMPLETE
    try:
        with progress_bar(not args.quiet) as progress:
            fleet = run_fleet(options, targets, ruleset, base, max_concurrent=config.max_concurrent, progress=progress,
                              previous=runtime.previous_snapshot if runtime else None)
        for failure in fleet.failures.values():
            print(f"error: {failure.target.key} not audited: {failure.message}", file=sys.stderr)
            if runtime:
                _delivery_summary(runtime.failed(
                    {"exception": failure.code, "message": failure.message},
                    AuditInfo(options.architecture, options.environment, failure.target.account,
                              failure.target.region, fleet.started_at)))
        code = report(args, fleet)
        for result in fleet.results.values() if runtime else ():
            _delivery_summary(runtime.finish(result))
        return code
    finally:
        if runtime:
            runtime.close()


TARGET_FLAGS = {"regions": "--region", "role_arn": "--role-arn", "external_id": "--external-id",
                "session_name": "--session-name", "role_name": "--org-role-name", "include": "--include-account",
                "exclude": "--exclude-account", "shard": "--shard", "max_concurrent": "--max-concurrent",
                "accounts": "--role-arn"}


def _targets_config(args: argparse.Namespace) -> TargetsConfig | None:
    """The targets of --targets FILE or of the target flags (--shard and --max-concurrent apply to
    both); None when none is given: the one account and region of the boto3 chain, as always."""
    from pydantic import ValidationError

    from ..targets import TargetsFileError, load_targets, validation_message

    org_only = {"--org-role-name": args.org_role_name, "--include-account": args.include_accounts,
                "--exclude-account": args.exclude_accounts}
    assume = {"external_id": args.external_id, "session_name": args.session_name}
    given = [flag for flag, value in {"--region": args.regions[1:], "--role-arn": args.role_arns,
                                      "--organization": args.organization, **org_only,
                                      "--external-id": args.external_id, "--session-name": args.session_name}.items()
             if value]
    if args.targets is None and not given and args.shard is None and args.max_concurrent is None:
        return None
    if args.targets is not None:
        if given or len(args.regions) == 1:
            raise UsageError(f"--targets {args.targets}: give the targets in the file or as options, not both "
                             f"(also given: {', '.join(given) or '--region'})")
        try:
            data = load_targets(args.targets).model_dump(exclude_unset=True)
        except TargetsFileError as exc:
            raise UsageError("\nerror: ".join(exc.problems)) from exc
    else:
        for flag, value in org_only.items():
            if value and not args.organization:
                raise UsageError(f"{flag}: only with --organization")
        if (args.external_id or args.session_name) and not (args.role_arns or args.organization):
            raise UsageError(f"{'--external-id' if args.external_id else '--session-name'}: only with --role-arn or "
                             "--organization")
        options = {k: v for k, v in assume.items() if v is not None}
        data = {"regions": args.regions, "accounts": [{"role_arn": arn, **options} for arn in args.role_arns]}
        if args.organization:
            data["organization"] = {"include": args.include_accounts, "exclude": args.exclude_accounts, **options,
                                    **({"role_name": args.org_role_name} if args.org_role_name else {})}
    data.update({k: v for k, v in (("shard", args.shard), ("max_concurrent", args.max_concurrent)) if v is not None})
    try:
        return TargetsConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        flag = next((TARGET_FLAGS[p] for p in reversed(err["loc"]) if p in TARGET_FLAGS), "targets")
        raise UsageError(f"{flag}: {validation_message(err)}") from exc


def _state_runtime(args: argparse.Namespace) -> Any:
    """The state file and channels of ``--notify`` / ``--state`` (None without them; False after
    printing why the settings are invalid)."""
    if not (args.notify or args.state):
        return None
    from ..daemon.config import ConfigError, config_path, load_config
    from ..notify.config import StateConfig
    from ..notify.runtime import Runtime
    from ..state import StateError

    try:
        config = load_config(config_path(args.config))
        known = {c.name: c for c in config.channels}
        unknown = [n for n in args.notify if n not in known]
        if unknown:
            raise ConfigError([f"--notify: unknown channel {', '.join(unknown)} (known: {', '.join(known)})"])
        channels = [known[n].model_copy(update={"enabled": True}) for n in dict.fromkeys(args.notify)]
        problems = [p for c in channels for p in c.problems()]
        if problems:
            raise ConfigError(problems)
        runtime = Runtime()
        runtime.configure(StateConfig(path=args.state) if args.state else config.state, *channels)
    except (ConfigError, StateError) as exc:
        for problem in getattr(exc, "problems", None) or [str(exc)]:
            usage_error(problem)
        return False
    for warning in runtime.store.warnings if runtime.store else ():
        print(f"warning: {warning}", file=sys.stderr)   # a damaged or empty state file, started anew
    return runtime


def _delivery_summary(stats: Any) -> None:
    sys.stderr.write(status.delivered(stats))
