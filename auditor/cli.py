"""Command line: ``auditor audit``, ``auditor cost``, ``auditor prices refresh|show``,
``auditor rules list|validate|test|schema``, ``auditor demo``, ``auditor waivers list|validate``,
``auditor serve`` (the daemon: see :mod:`auditor.daemon`), ``auditor iam-policy``,
``auditor monitoring export``.

Exit codes: 0 nothing failing at or above --fail-on; 1 failing findings; 2 the audit could not
run or was incomplete (bad rules or options, no credentials, an AWS API that failed).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from . import __version__
from .audit import AuditOptions, known_resource_types, load_ruleset, run_audit, run_fleet
from .aws import AuditSetupError
from .coverage import applied_to_nothing
from .iam import EXTRAS, policy
from .model import SEVERITIES
from .report import FORMATS, render, status
from .report.console import progress_bar
from .report.listings import LIST_FORMATS, prices_listing, rules_listing, waivers_listing
from .results import AuditResult, FleetResult
from .rules.engine import BASELINE_SCOPES
from .rules.loader import (
    RuleFileError,
    architecture_names,
    load_packs,
    pack_paths,
    rules_root,
)
from .rules.schema import export_json_schema
from .targets import TargetsConfig
from .waivers import WaiverFileError, load_waivers

EXIT_OK, EXIT_FINDINGS, EXIT_INCOMPLETE = 0, 1, 2
WAIVERS_ENV = "AUDITOR_WAIVERS"   # default waiver file of `auditor waivers` (the daemon's `waivers` key)


class UsageError(Exception):
    """A usage or input error, found before any AWS call where possible: ``error: MESSAGE``, exit 2."""


def _usage_error(message: str) -> int:
    """The one way a usage or input error ends: one line on stderr, exit code 2."""
    print(f"error: {message}", file=sys.stderr)
    return EXIT_INCOMPLETE


class _Parser(argparse.ArgumentParser):
    """argparse with its errors on one line (``error: ...``), exit 2, like every other usage error."""

    def error(self, message: str) -> Any:
        _usage_error(f"{message} (see '{self.prog} --help')")
        raise SystemExit(EXIT_INCOMPLETE)


def _param(text: str) -> tuple[str, Any]:
    """``NAME=VALUE`` of --param, the value read as YAML."""
    if "=" not in text:
        raise UsageError(f"--param {text}: expected NAME=VALUE")
    name, value = text.split("=", 1)
    if not name.strip():
        raise UsageError(f"--param {text}: the parameter name is empty (expected NAME=VALUE)")
    try:
        return name.strip(), yaml.safe_load(value)
    except yaml.YAMLError as exc:
        problem = str(getattr(exc, "problem", None) or exc).splitlines()[0]
        raise UsageError(f"--param {text}: the value is not valid YAML: {problem}") from exc


def _known_region(text: str) -> str:
    """A region of botocore's endpoint data (``demo --region``: moto emulates those)."""
    import boto3

    session = boto3.Session()
    if not any(text in session.get_available_regions("ec2", p) for p in session.get_available_partitions()):
        raise argparse.ArgumentTypeError(f"not a known AWS region: {text!r}")
    return text


def _add_rule_source(p: argparse.ArgumentParser) -> None:
    p.add_argument("--architecture", "-a", help=f"rule pack ({', '.join(architecture_names())})")
    p.add_argument("--rules", action="append", type=Path, default=[], metavar="PATH",
                   help="extra rule file or folder (repeatable)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="override a pack parameter (repeatable)")


def _add_cost_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prices", type=Path, metavar="FILE",
                   help="price file over the bundled table (default: the cache of `auditor prices refresh`, if any)")
    p.add_argument("--alb-lcu", type=float, default=1.0, metavar="N",
                   help="LCUs each load balancer is assumed to use all month (default: 1)")


def _add_audit_options(p: argparse.ArgumentParser) -> None:
    _add_rule_source(p)
    p.add_argument("--environment", "-e", help="treat every resource as this environment "
                   "(default: from the environment tag)")
    p.add_argument("--environment-tag", default="Environment", help="tag key that names the environment")
    p.add_argument("--format", "-f", choices=sorted(FORMATS), default="table")
    p.add_argument("--output", "-o", type=Path, help="write the report to FILE instead of stdout")
    p.add_argument("--fail-on", choices=SEVERITIES, default="low",
                   help="lowest severity whose failing findings make the exit code 1 (default: low)")
    p.add_argument("--max-attempts", type=int, default=5, help="attempts per AWS call, the first included (default 5)")
    p.add_argument("--waivers", type=Path, metavar="FILE",
                   help="waiver file: matching failing findings are reported as waived, not failing")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress indicator")
    p.add_argument("--baseline", choices=BASELINE_SCOPES, default="deployments",
                   help="what the baseline rules judge: the audited deployments' resources (default) "
                        "or every resource in the account")
    p.add_argument("--require-coverage", action="store_true",
                   help="exit 2 when a pack rule applied to nothing in one of its deployments")
    _add_cost_options(p)


def _add_target_options(p: argparse.ArgumentParser) -> None:
    """Other accounts (roles to assume, or an organization's members), shards and concurrency."""
    p.add_argument("--role-arn", dest="role_arns", action="append", default=[], metavar="ARN",
                   help="audit the account of this IAM role, assumed with STS (repeatable)")
    p.add_argument("--external-id", help="external id of the roles to assume (never logged)")
    p.add_argument("--session-name", help="STS session name of the roles assumed (default: auditor)")
    p.add_argument("--organization", action="store_true",
                   help="audit the ACTIVE member accounts of the AWS Organization (organizations:ListAccounts)")
    p.add_argument("--org-role-name", metavar="NAME",
                   help="--organization: role assumed in each member (default: OrganizationAccountAccessRole)")
    p.add_argument("--include-account", dest="include_accounts", action="append", default=[], metavar="ID",
                   help="--organization: only these member accounts (repeatable)")
    p.add_argument("--exclude-account", dest="exclude_accounts", action="append", default=[], metavar="ID",
                   help="--organization: not these member accounts (repeatable)")
    p.add_argument("--shard", metavar="I/N", help="audit shard I of N of the accounts x regions, split deterministically")
    p.add_argument("--max-concurrent", type=int, metavar="N", help="targets audited at once (default 4, at most 32)")
    p.add_argument("--targets", type=Path, metavar="FILE",
                   help="YAML file whose 'targets:' mapping lists regions, accounts, organization, shard, max_concurrent")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="auditor", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"auditor {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    audit = sub.add_parser("audit", help="audit AWS accounts and regions (default: the credentials' own account, one region)")
    _add_audit_options(audit)
    audit.add_argument("--region", dest="regions", action="extend", type=_regions, default=[], metavar="REGION,...",
                       help="AWS region (default: the boto3 chain); repeatable or comma-separated: each one audited")
    audit.add_argument("--profile", help="AWS profile (default: the boto3 chain): the base credentials")
    _add_target_options(audit)
    audit.add_argument("--notify", action="extend", type=_names, default=[], metavar="CHANNEL,...",
                       help="send this audit's news through these channels (slack, webhook; their settings from "
                            "--config or AUDITOR_<CHANNEL>__*; the state file remembers what was sent)")
    audit.add_argument("--slack", dest="notify", action="append_const", const="slack", help="the same as --notify slack")
    audit.add_argument("--state", type=Path, metavar="PATH",
                       help="state file: what was announced, the last snapshot (the report then shows what "
                            "changed since), the notification outbox (default with --notify: state.path)")
    audit.add_argument("--config", "-c", type=Path, metavar="FILE",
                       help="settings file for --notify and --state, as auditor serve's (default: $AUDITOR_CONFIG)")

    demo = sub.add_parser("demo", help="audit an emulated account (moto) built from a documented architecture")
    _add_audit_options(demo)
    demo.add_argument("--drift", action="append", default=[], metavar="NAME",
                      help="apply a documented drift before the audit (repeatable; 'list' to show them)")
    demo.add_argument("--deploy-environment", default="production",
                      help="environment of the emulated deployment (default: production)")
    demo.add_argument("--region", default="us-east-1", type=_known_region,
                      help="region the emulated deployment is built in and audited (default: us-east-1)")
    demo.add_argument("--serve", action="store_true",
                      help="run the daemon against the emulated account: /metrics, Slack messages on the terminal, "
                           "documented drifts applied and reverted in turn (Ctrl-C stops it)")
    demo.add_argument("--port", type=int, default=9797, help="--serve: HTTP port on 127.0.0.1 (default 9797; 0: any free one)")
    demo.add_argument("--interval", type=float, default=15.0, metavar="SECONDS",
                      help="--serve: seconds between audits (default 15)")
    demo.add_argument("--drift-every", type=int, default=8, metavar="N",
                      help="--serve: apply the next documented drift after every N audits, revert it N audits later "
                           "(default 8; 0: never)")

    cost = sub.add_parser("cost", help="estimate the monthly bill of an architecture's deployments, line by line")
    _add_rule_source(cost)
    cost.add_argument("--environment", "-e", help="only this environment's deployment")
    cost.add_argument("--environment-tag", default="Environment", help="tag key that names the environment")
    cost.add_argument("--format", "-f", choices=("table", "json"), default="table")
    cost.add_argument("--output", "-o", type=Path, help="write the report to FILE instead of stdout")
    cost.add_argument("--region", help="AWS region (default: the boto3 chain)")
    cost.add_argument("--profile", help="AWS profile (default: the boto3 chain)")
    cost.add_argument("--max-attempts", type=int, default=5, help="attempts per AWS call, the first included (default 5)")
    cost.add_argument("--actual", action="store_true",
                      help="add month-to-date spend from Cost Explorer (one billed request, $0.01, per deployment)")
    cost.add_argument("--emulated", action="store_true",
                      help="estimate the documented deployment built in an emulated account (moto), "
                           "each documented environment unless --environment")
    _add_cost_options(cost)

    prices = sub.add_parser("prices", help="show the price table, or refresh it from the AWS Price List API")
    psub = prices.add_subparsers(dest="prices_command", required=True)
    refresh = psub.add_parser("refresh", help="rebuild regions from the Price List API (pricing:GetProducts) "
                                              "into the local cache")
    which = refresh.add_mutually_exclusive_group(required=True)
    which.add_argument("--region", action="append", metavar="REGION",
                       help="region to price (repeatable; regions of one partition)")
    which.add_argument("--all-regions", action="store_true",
                       help="every commercial (aws partition) region the Price List API lists for the priced services")
    refresh.add_argument("--cache", type=Path, metavar="FILE", help="price cache to write (default: "
                                                                    "$AUDITOR_COST__PRICES or ~/.cache/auditor/prices.json)")
    refresh.add_argument("--profile", help="AWS profile (default: the boto3 chain)")
    show = psub.add_parser("show", help="print the prices in use for a region")
    show.add_argument("--region", required=True)
    show.add_argument("--prices", type=Path, metavar="FILE", help="price file over the bundled table")
    show.add_argument("--format", "-f", choices=LIST_FORMATS, default="table")

    serve = sub.add_parser("serve", help="run as a daemon: audit on a schedule, serve /metrics, /healthz, /readyz")
    serve.add_argument("--config", "-c", type=Path, metavar="FILE",
                       help="YAML settings (default: $AUDITOR_CONFIG; AUDITOR_* variables override it)")
    serve.add_argument("--check", action="store_true", help="validate the settings and rules, then exit")
    serve.add_argument("--shard", metavar="I/N",
                       help="audit shard I of N of the targets (accounts x regions), split deterministically; "
                            "overrides targets.shard (run N daemons, one per shard)")

    rules = sub.add_parser("rules", help="list, validate and test rule packs")
    rsub = rules.add_subparsers(dest="rules_command", required=True)
    lst = rsub.add_parser("list", help="list rules with their document citations")
    _add_rule_source(lst)
    lst.add_argument("--format", "-f", choices=LIST_FORMATS, default="table")
    val = rsub.add_parser("validate", help="validate rule files (default: all shipped packs)")
    val.add_argument("paths", nargs="*", type=Path)
    val.add_argument("--docs", type=Path, metavar="DIR",
                     help="also check that every quote appears in the document it cites, found in DIR")
    tst = rsub.add_parser("test", help="run every rule's inline test cases")
    tst.add_argument("paths", nargs="*", type=Path)
    tst.add_argument("--verbose", "-v", action="store_true")
    rsub.add_parser("schema", help="print the rule-file JSON Schema")

    monitoring = sub.add_parser("monitoring", help="the bundled Prometheus alerting rules, Grafana dashboard and "
                                                   "example Prometheus, Alertmanager and Grafana configs")
    msub = monitoring.add_subparsers(dest="monitoring_command", required=True)
    export = msub.add_parser("export", help="write them into DIR (created if missing)")
    export.add_argument("dir", type=Path, metavar="DIR")
    export.add_argument("--force", action="store_true", help="replace files that are already in DIR")

    waivers = sub.add_parser("waivers", help="list and validate waiver files")
    wsub = waivers.add_subparsers(dest="waivers_command", required=True)
    wl = wsub.add_parser("list", help="show waivers with the days left before each expires")
    wl.add_argument("file", nargs="?", type=Path, help=f"waiver file (default: ${WAIVERS_ENV})")
    wl.add_argument("--format", "-f", choices=LIST_FORMATS, default="table")
    wv = wsub.add_parser("validate", help="check a waiver file; errors name file, line and field")
    wv.add_argument("file", nargs="?", type=Path, help=f"waiver file (default: ${WAIVERS_ENV})")

    iam = sub.add_parser("iam-policy", help="print the least-privilege IAM policy of the audits (JSON)")
    iam.add_argument("--architecture", "-a", help="only what this pack's audit calls (default: any audit)")
    iam.add_argument("--with", dest="extras", action="extend", type=_extras, default=[], metavar="ITEM,...",
                     help=f"add optional statements: {', '.join(EXTRAS)}")
    iam.add_argument("--secret-arn", type=_secret_arn, metavar="ARN",
                     help="the Slack secret's ARN, the only resource slack-secret grants (implies it)")
    iam.add_argument("--role-arn", dest="role_arns", action="append", type=_role_arn, default=[], metavar="ARN",
                     help="a role of an audited account, the resources assume-role grants (implies it; repeatable)")
    return parser


def _emit(text: str, output: Path | None) -> None:
    if output:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--output {output}: cannot write: {exc.strerror or exc}") from exc
    else:
        sys.stdout.write(text)


# -- checks of the arguments, before any AWS call ---------------------------------------------

def _check_args(args: argparse.Namespace) -> None:
    """Raise UsageError for an argument that cannot work, before anything is loaded or collected."""
    if args.command == "demo" or getattr(args, "emulated", False):
        _check_demo_extra(args.command)
    if getattr(args, "max_attempts", None) is not None and args.max_attempts < 1:
        raise UsageError(f"--max-attempts: must be at least 1 (got {args.max_attempts})")
    alb_lcu = getattr(args, "alb_lcu", None)
    if alb_lcu is not None and (not math.isfinite(alb_lcu) or alb_lcu < 0):
        raise UsageError(f"--alb-lcu: must be a number of at least 0 (got {alb_lcu:g})")
    if hasattr(args, "param"):
        args.param = [_param(text) for text in args.param]
    if getattr(args, "output", None) is not None:
        _check_output(args.output)
    if args.command in ("audit", "cost") and not getattr(args, "emulated", False) \
            or getattr(args, "prices_command", None) == "refresh":
        _check_profile(args.profile)


def _check_demo_extra(command: str) -> None:
    """``demo`` and ``cost --emulated`` build their account in moto, which only the demo extra installs."""
    import importlib.util

    if importlib.util.find_spec("moto") is None:
        what = "auditor demo" if command == "demo" else "auditor cost --emulated"
        raise UsageError(f"{what} needs moto, from the demo extra: pip install 'auditor[demo]'")


def _check_output(path: Path) -> None:
    """The report file can be written: its folder exists (none is created) and is writable."""
    if path.is_dir():
        raise UsageError(f"--output {path}: is a folder, not a file")
    folder = path.parent
    if not folder.exists():
        raise UsageError(f"--output {path}: folder {folder} does not exist")
    if not folder.is_dir():
        raise UsageError(f"--output {path}: {folder} is not a folder")
    if path.exists():
        if not os.access(path, os.W_OK):
            raise UsageError(f"--output {path}: cannot write: permission denied")
    elif not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"--output {path}: cannot write in folder {folder}: permission denied")


def _check_profile(profile: str | None) -> None:
    """--profile (or AWS_PROFILE) names a profile of the AWS config or credentials files."""
    import botocore.session
    from botocore.exceptions import BotoCoreError

    name, option = (profile, "--profile") if profile else (os.environ.get("AWS_PROFILE"), "AWS_PROFILE")
    if not name:
        return
    try:
        known = sorted(botocore.session.Session(profile=name).available_profiles)
    except BotoCoreError as exc:   # an unreadable or malformed AWS config file
        raise UsageError(f"{option} {name}: cannot read the AWS config files: {exc}") from exc
    if name not in known:
        raise UsageError(f"{option} {name}: no such AWS profile "
                         + (f"(known: {', '.join(known)})" if known
                            else "(no profile in the AWS config and credentials files)"))


def _check_params(args: argparse.Namespace, ruleset: Any) -> None:
    """Every --param is a parameter of one of the loaded packs."""
    known = sorted({name for lp in ruleset.packs for name in lp.pack.params})
    for name, _ in args.param:
        if name not in known:
            raise UsageError(f"--param {name}: no such parameter; the selected packs define "
                             + (", ".join(known) if known else "none"))


def _load_ruleset(args: argparse.Namespace, options: AuditOptions) -> Any:
    ruleset = load_ruleset(options.architecture, options.rule_paths, options.params)
    _check_params(args, ruleset)
    return ruleset


def _exit_code(result: AuditResult | FleetResult, fail_on: str, require_coverage: bool = False) -> int:
    if not result.complete:
        return EXIT_INCOMPLETE
    if require_coverage:
        silent = applied_to_nothing(result.findings, result.architecture_packs)
        if silent:
            sys.stderr.write(status.not_covered(silent))
            return EXIT_INCOMPLETE
    return EXIT_FINDINGS if result.failing(fail_on) else EXIT_OK


def _options(args: argparse.Namespace, region: str | None = None) -> AuditOptions:
    return AuditOptions(architecture=args.architecture, environment=args.environment,
                        region=region or getattr(args, "region", None), profile=getattr(args, "profile", None),
                        rule_paths=tuple(args.rules), params=dict(args.param),
                        environment_tag=args.environment_tag, max_attempts=args.max_attempts,
                        waivers=getattr(args, "waivers", None), prices=args.prices, alb_lcu=args.alb_lcu,
                        baseline=getattr(args, "baseline", "deployments"))


def _report(args: argparse.Namespace, result: AuditResult | FleetResult) -> int:
    _emit(render(result, args.format, color=sys.stdout.isatty() and not args.output), args.output)
    return _exit_code(result, args.fail_on, getattr(args, "require_coverage", False))


def cmd_audit(args: argparse.Namespace) -> int:
    targets = _targets_config(args)
    if targets is not None:
        return _audit_targets(args, targets)
    options = _options(args, region=args.regions[0] if args.regions else None)
    ruleset = _load_ruleset(args, options)
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
        code = _report(args, result)
        if runtime:
            _delivery_summary(runtime.finish(result))
        return code
    finally:
        if runtime:
            runtime.close()


def _audit_targets(args: argparse.Namespace, config: TargetsConfig) -> int:
    """One audit per account x region of ``config``, all in one report."""
    import boto3

    from .notify.channel import AuditInfo
    from .targets import resolve

    options = _options(args)
    ruleset = _load_ruleset(args, options)
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
        code = _report(args, fleet)
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

    from .targets import TargetsFileError, load_targets, validation_message

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
    from .daemon.config import ConfigError, config_path, load_config
    from .notify.config import StateConfig
    from .notify.runtime import Runtime
    from .state import StateError

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
            _usage_error(problem)
        return False
    for warning in runtime.store.warnings if runtime.store else ():
        print(f"warning: {warning}", file=sys.stderr)   # a damaged or empty state file, started anew
    return runtime


def _delivery_summary(stats: Any) -> None:
    sys.stderr.write(status.delivered(stats))


def cmd_demo(args: argparse.Namespace) -> int:
    from .emulated.demo import DEFAULT_ARCHITECTURE, drift_names, emulated_account

    architecture = args.architecture or DEFAULT_ARCHITECTURE
    if "list" in args.drift:
        for name in drift_names(architecture):
            print(name)
        return EXIT_OK
    args.architecture = architecture
    options = _options(args)
    if args.serve:
        from .emulated.live import serve
        return serve(options, args.deploy_environment, args.drift, port=args.port, interval=args.interval,
                     drift_every=args.drift_every)
    ruleset = _load_ruleset(args, options)
    with ExitStack() as stack:
        try:   # an unknown drift, a region without the zones the spec places subnets in
            aws = stack.enter_context(emulated_account(architecture, args.deploy_environment, args.drift,
                                                       region=args.region))
        except (KeyError, ValueError) as exc:
            return _usage_error(str(exc.args[0]) if exc.args else str(exc))
        with progress_bar(not args.quiet) as progress:
            result = run_audit(options, ruleset, aws=aws, progress=progress)
    return _report(args, result)


def cmd_cost(args: argparse.Namespace) -> int:
    from .cost.deployment import budget_status
    from .cost.spend import SpendReader
    from .model import normalize_environment
    from .report.cost import render_costs, selected_costs

    if not args.architecture:
        print(f"error: --architecture is required (one of {', '.join(architecture_names())})", file=sys.stderr)
        return EXIT_INCOMPLETE
    environment = normalize_environment(args.environment)
    options = _options(args)
    options = replace(options, environment=None)   # --environment picks a deployment here, not a tag
    ruleset = _load_ruleset(args, options)
    spend = SpendReader() if args.actual else None
    results = []
    if args.emulated:
        from .emulated.architectures import ENVIRONMENTS
        from .emulated.demo import emulated_account
        documented = ENVIRONMENTS.get(args.architecture, ())
        if environment and environment not in documented:
            print(f"error: {args.architecture} documents the environments {', '.join(documented)}, "
                  f"not {args.environment!r}", file=sys.stderr)
            return EXIT_INCOMPLETE
        for env in [environment] if environment else documented:
            with emulated_account(args.architecture, env) as aws:
                results.append(run_audit(options, ruleset, aws=aws, spend=spend))
    else:
        results.append(run_audit(options, ruleset, spend=spend))
    _emit(render_costs(results, args.format, environment, color=sys.stdout.isatty() and not args.output), args.output)
    if any(not r.complete for r in results):
        return EXIT_INCOMPLETE
    over = [c for r in results for c in selected_costs(r, environment) if budget_status(r.findings, c) == "fail"]
    return EXIT_FINDINGS if over else EXIT_OK


def cmd_prices(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from .audit import load_prices
    from .cost.prices import default_cache_path

    if args.prices_command == "show":
        table = load_prices(args.prices)
        sys.stdout.write(prices_listing(table, args.region, args.format))
        return EXIT_OK if table.describe(args.region)["prices"] or args.format == "json" else EXIT_INCOMPLETE
    from .aws import AwsContext
    from .cost.refresh import COMMERCIAL, PriceRefreshError, listed_regions, pricing_endpoint, pricing_region, refresh

    cache = args.cache or default_cache_path()
    try:
        endpoint = pricing_region(args.region) if args.region else pricing_endpoint(COMMERCIAL)
        client = AwsContext(region=endpoint, profile=args.profile).client("pricing")
        regions = args.region or listed_regions(client, COMMERCIAL)
        summaries = refresh(client, regions, cache, datetime.now(UTC).date())
    except PriceRefreshError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INCOMPLETE
    sys.stdout.write(status.refreshed(summaries, cache))
    return EXIT_OK


def cmd_rules(args: argparse.Namespace) -> int:
    if args.rules_command == "schema":
        print(json.dumps(export_json_schema(), indent=2))
        return EXIT_OK
    if args.rules_command == "list":
        return _rules_list(args)
    paths = args.paths or [rules_root()]
    if args.rules_command == "validate" and args.docs and not args.docs.is_dir():
        raise RuleFileError([f"--docs {args.docs}: no such directory"])
    packs = load_packs(paths, known_resource_types())
    if args.rules_command == "validate":
        sys.stdout.write(status.rules_valid(packs, _citations(packs, args.docs) if args.docs else None, args.docs))
        return EXIT_OK
    from .rules.engine import RuleSet
    results = RuleSet(packs).run_tests()
    sys.stdout.write(status.rule_tests(results, args.verbose))
    return EXIT_FINDINGS if any(not r.ok for r in results) else EXIT_OK


def _citations(packs: list, docs: Path) -> Any:
    """The quote check's report, or RuleFileError naming file, line, rule and field of each problem."""
    from .rules.citations import check_citations

    report = check_citations(packs, docs)
    if report.problems:
        raise RuleFileError(report.problems)
    return report


def _rules_list(args: argparse.Namespace) -> int:
    packs = load_packs(pack_paths(args.architecture, args.rules), known_resource_types())
    sys.stdout.write(rules_listing(packs, args.format, color=sys.stdout.isatty()))
    return EXIT_OK


def cmd_waivers(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    path = args.file or (Path(os.environ[WAIVERS_ENV]) if os.environ.get(WAIVERS_ENV) else None)
    if path is None:
        print(f"error: no waiver file: give FILE or set {WAIVERS_ENV}", file=sys.stderr)
        return EXIT_INCOMPLETE
    waivers = load_waivers(path)
    today = datetime.now(UTC).date()
    if args.waivers_command == "validate":
        sys.stdout.write(status.waivers_valid(path, waivers, today))
        return EXIT_OK
    sys.stdout.write(waivers_listing(path, waivers, today, args.format, color=sys.stdout.isatty()))
    return EXIT_OK


def _extras(text: str) -> list[str]:
    """``--with a,b``: names of optional statements (auditor.iam.EXTRAS)."""
    items = [i.strip() for i in text.split(",") if i.strip()]
    unknown = [i for i in items if i not in EXTRAS]
    if unknown or not items:
        raise argparse.ArgumentTypeError(f"unknown item {', '.join(unknown) or repr(text)} (known: {', '.join(EXTRAS)})")
    return items


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"no name in {text!r}")
    return names


def _regions(text: str) -> list[str]:
    regions = [r.strip() for r in text.split(",") if r.strip()]
    if not regions:
        raise argparse.ArgumentTypeError(f"no region in {text!r}")
    return regions


def _secret_arn(text: str) -> str:
    if not re.fullmatch(r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:\S+", text):
        raise argparse.ArgumentTypeError(f"not a Secrets Manager secret ARN: {text!r}")
    return text


def _role_arn(text: str) -> str:
    if not re.fullmatch(r"arn:aws[a-z-]*:iam::(\d{12}|\*):role/[\w+=,.@/*-]+", text):
        raise argparse.ArgumentTypeError(f"not an IAM role ARN: {text!r}")
    return text


def cmd_iam_policy(args: argparse.Namespace) -> int:
    extras = [*args.extras, *(["slack-secret"] if args.secret_arn else []), *(["assume-role"] if args.role_arns else [])]
    print(json.dumps(policy(args.architecture, extras, args.secret_arn, args.role_arns), indent=2))
    return EXIT_OK


def cmd_monitoring(args: argparse.Namespace) -> int:
    """Copy the bundled auditor/monitoring/ files into DIR, one path printed per file."""
    import shutil

    from .package_data import package_path

    source = package_path("monitoring")
    files = sorted(p.relative_to(source) for p in source.rglob("*") if p.is_file())
    there = [str(args.dir / f) for f in files if (args.dir / f).exists()]
    if there and not args.force:
        raise UsageError(f"{args.dir}: already holds {', '.join(there)} (--force replaces them)")
    try:
        for f in files:
            (args.dir / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / f, args.dir / f)
            print(args.dir / f)
    except OSError as exc:
        raise UsageError(f"{args.dir}: cannot write: {exc}") from exc
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    from .daemon.service import main as serve
    return serve(args.config, check=args.check, shard=args.shard)


COMMANDS = {"audit": cmd_audit, "demo": cmd_demo, "cost": cmd_cost, "prices": cmd_prices, "rules": cmd_rules,
            "waivers": cmd_waivers, "serve": cmd_serve, "iam-policy": cmd_iam_policy,
            "monitoring": cmd_monitoring}


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:   # --help, --version, or a usage error already printed on one line
        return exc.code if isinstance(exc.code, int) else EXIT_INCOMPLETE
    try:
        _check_args(args)
        return COMMANDS[args.command](args)
    except UsageError as exc:
        return _usage_error(str(exc))
    except RuleFileError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return EXIT_INCOMPLETE
    except WaiverFileError as exc:   # before AuditSetupError, its base class
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return EXIT_INCOMPLETE
    except AuditSetupError as exc:   # one line per problem (a price file may have several)
        for line in str(exc).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return EXIT_INCOMPLETE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
