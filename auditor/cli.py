"""Command line: ``auditor audit``, ``auditor cost``, ``auditor prices refresh|show``,
``auditor rules list|validate|test|schema``, ``auditor demo``, ``auditor waivers list|validate``,
``auditor serve`` (the daemon: see :mod:`auditor.daemon`), ``auditor iam-policy``,
``auditor monitoring export``, ``auditor inspect``.

Exit codes: 0 nothing failing at or above --fail-on; 1 failing findings; 2 the audit could not
run or was incomplete (bad rules or options, no credentials, an AWS API that failed).

This module parses and checks the arguments and dispatches; each command's body is in
:mod:`auditor.commands`, every rendering in :mod:`auditor.report`.
"""
from __future__ import annotations

import argparse
import math
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from . import __version__
from .aws import AuditSetupError
from .commands.audit import cmd_audit
from .commands.common import EXIT_FINDINGS, EXIT_INCOMPLETE, EXIT_OK, UsageError, usage_error
from .commands.cost import cmd_cost
from .commands.demo import cmd_demo
from .commands.iam_policy import cmd_iam_policy
from .commands.inspect import cmd_inspect
from .commands.monitoring import cmd_monitoring
from .commands.prices import cmd_prices
from .commands.rules import cmd_rules
from .commands.serve import cmd_serve
from .commands.waivers import WAIVERS_ENV, cmd_waivers
from .iam import EXTRAS
from .model import SEVERITIES
from .notify.channels import CHANNELS
from .report import FORMATS
from .report.listings import LIST_FORMATS
from .rules.engine import BASELINE_SCOPES
from .rules.loader import RuleFileError, architecture_names
from .waivers import WaiverFileError

__all__ = ["COMMANDS", "EXIT_FINDINGS", "EXIT_INCOMPLETE", "EXIT_OK", "UsageError", "build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """argparse with its errors on one line (``error: ...``), exit 2, like every other usage error."""

    def error(self, message: str) -> Any:
        usage_error(f"{message} (see '{self.prog} --help')")
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
                       help=f"send this audit's news through these channels ({', '.join(c.name for c in CHANNELS)}; "
                            "their settings from --config or AUDITOR_<CHANNEL>__*; the state file remembers what was sent)")
    for channel in CHANNELS:
        audit.add_argument(f"--{channel.name}", dest="notify", action="append_const", const=channel.name,
                           help=f"the same as --notify {channel.name}")
    audit.add_argument("--state", type=Path, metavar="PATH",
                       help="state file: what was announced, the last snapshot (the report then shows what "
                            "changed since), the notification outbox (default with --notify: state.path)")
    audit.add_argument("--config", "-c", type=Path, metavar="FILE",
                       help="settings file for --notify and --state, as auditor serve's (default: $AUDITOR_CONFIG)")

    demo = sub.add_parser("demo", help="audit an emulated account (moto) built from a documented architecture")
    _add_audit_options(demo)
    demo.add_argument("--deployment", metavar="ARCH",
                      help="the documented deployment to build (default: --architecture's, else mattilda), "
                           "e.g. to try a --rules pack against it")
    demo.add_argument("--params", type=Path, metavar="FILE",
                      help="YAML mapping NAME: VALUE of pack parameters, as --param takes (--param overrides it)")
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
    attrs = rsub.add_parser("attributes", help="what rules can read per resource type: each attribute's type, "
                                               "origin, allowed values and an example")
    attrs.add_argument("type", nargs="?", metavar="TYPE", help="one resource type (default: all)")
    attrs.add_argument("--format", "-f", choices=LIST_FORMATS, default="table")

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

    inspect = sub.add_parser("inspect", help="print the documents rules see for a resource type, whole; "
                                             "--rule explains one rule on them, condition by condition")
    inspect.add_argument("type", metavar="TYPE", help="resource type (ecs_service, security_group, ...)")
    inspect.add_argument("id", nargs="?", metavar="ID_OR_NAME", help="only the resources with this id, name or ARN")
    _add_rule_source(inspect)
    inspect.add_argument("--rule", metavar="RULE_ID", help="explain this rule of the loaded packs on each resource: "
                                                          "scope and assert conditions, the audit's status")
    inspect.add_argument("--format", "-f", choices=("yaml", "json"),
                         help="documents: yaml (default) or json; --rule: text (default), yaml or json")
    inspect.add_argument("--emulated", metavar="ARCH",
                         help="the documented deployment of ARCH built in an emulated account (moto); "
                              "its pack is loaded unless --architecture")
    inspect.add_argument("--deploy-environment", default="production",
                         help="--emulated: environment of the deployment (default: production)")
    inspect.add_argument("--drift", action="append", default=[], metavar="NAME",
                         help="--emulated: apply a documented drift first (repeatable)")
    inspect.add_argument("--region", help="AWS region (default: the boto3 chain; --emulated: us-east-1)")
    inspect.add_argument("--profile", help="AWS profile (default: the boto3 chain)")

    iam = sub.add_parser("iam-policy", help="print the least-privilege IAM policy of the audits (JSON)")
    iam.add_argument("--architecture", "-a", help="only what this pack's audit calls (default: any audit)")
    iam.add_argument("--with", dest="extras", action="extend", type=_extras, default=[], metavar="ITEM,...",
                     help=f"add optional statements: {', '.join(EXTRAS)}")
    iam.add_argument("--secret-arn", dest="secret_arns", action="append", type=_secret_arn, default=[], metavar="ARN",
                     help="a notification channel's secret (Slack's token or webhook URL, a webhook's bearer token): "
                          "the resources channel-secrets grants (implies it; repeatable)")
    iam.add_argument("--role-arn", dest="role_arns", action="append", type=_role_arn, default=[], metavar="ARN",
                     help="a role of an audited account, the resources assume-role grants (implies it; repeatable)")
    return parser




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
    if args.command in ("audit", "cost", "inspect") and not getattr(args, "emulated", False) \
            or getattr(args, "prices_command", None) == "refresh":
        _check_profile(args.profile)


def _check_demo_extra(command: str) -> None:
    """``demo``, ``cost --emulated`` and ``inspect --emulated`` build their account in moto, which only the
    demo extra installs."""
    import importlib.util

    if importlib.util.find_spec("moto") is None:
        what = "auditor demo" if command == "demo" else f"auditor {command} --emulated"
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


COMMANDS = {"audit": cmd_audit, "demo": cmd_demo, "cost": cmd_cost, "prices": cmd_prices, "rules": cmd_rules,
            "waivers": cmd_waivers, "serve": cmd_serve, "iam-policy": cmd_iam_policy,
            "monitoring": cmd_monitoring, "inspect": cmd_inspect}


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:   # --help, --version, or a usage error already printed on one line
        return exc.code if isinstance(exc.code, int) else EXIT_INCOMPLETE
    try:
        _check_args(args)
        return COMMANDS[args.command](args)
    except UsageError as exc:
        return usage_error(str(exc))
    except (RuleFileError, WaiverFileError) as exc:   # WaiverFileError before AuditSetupError, its base class
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return EXIT_INCOMPLETE
    except AuditSetupError as exc:   # one line per problem (a price file may have several)
        for line in str(exc).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return EXIT_INCOMPLETE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
