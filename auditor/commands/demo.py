"""``auditor demo``: an audit, or the daemon (--serve), of an emulated account (moto).

``--architecture`` picks the pack and the deployment built (default mattilda); ``--deployment``
picks the deployment alone, so a ``--rules`` pack can be tried against any documented one, with
its parameters from ``--params FILE`` (``--param`` overrides them)."""
from __future__ import annotations

import argparse
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..audit import run_audit
from ..report.console import progress_bar
from ..yaml_lines import YamlFileError, read_yaml
from .common import EXIT_OK, UsageError, audit_options, check_param_names, checked_ruleset, report, usage_error


def _file_params(path: Path) -> dict[str, tuple[Any, int]]:
    """The ``--params`` file's parameters: NAME -> (VALUE, line)."""
    try:
        data, lines = read_yaml(path)
    except YamlFileError as exc:
        raise UsageError(str(exc)) from exc
    if data is not None and not isinstance(data, dict):
        raise UsageError(f"{path}:1: expected a mapping NAME: VALUE of pack parameters")
    for name in data or {}:
        if not isinstance(name, str):
            raise UsageError(f"{path}:{lines[(name,)]}: {name!r}: a parameter name must be text")
    return {name: (value, lines[(name,)]) for name, value in (data or {}).items()}


def cmd_demo(args: argparse.Namespace) -> int:
    from ..emulated.architectures import ENVIRONMENTS
    from ..emulated.demo import DEFAULT_ARCHITECTURE, drift_names, emulated_account

    if args.deployment is None:
        args.architecture = args.architecture or DEFAULT_ARCHITECTURE
    elif args.deployment not in ENVIRONMENTS:
        return usage_error(f"--deployment {args.deployment}: no such emulated deployment "
                           f"(known: {', '.join(ENVIRONMENTS)})")
    elif args.serve:
        return usage_error("--deployment: not with --serve, which builds the --architecture deployment")
    architecture = args.deployment or args.architecture
    if "list" in args.drift:
        for name in drift_names(architecture):
            print(name)
        return EXIT_OK
    file_params = _file_params(args.params) if args.params else {}
    options = replace(audit_options(args), params={k: v for k, (v, _) in file_params.items()} | dict(args.param))
    ruleset = checked_ruleset(args, options)
    if args.params:
        check_param_names(ruleset, {name: f"{args.params}:{line}: {name}" for name, (_, line) in file_params.items()})
    if args.serve:
        from ..emulated.live import serve
        return serve(options, args.deploy_environment, args.drift, port=args.port, interval=args.interval,
                     drift_every=args.drift_every)
    with ExitStack() as stack:
        try:   # an unknown drift, a region without the zones the spec places subnets in
            aws = stack.enter_context(emulated_account(architecture, args.deploy_environment, args.drift,
                                                       region=args.region))
        except (KeyError, ValueError) as exc:
            return usage_error(str(exc.args[0]) if exc.args else str(exc))
        with progress_bar(not args.quiet) as progress:
            result = run_audit(options, ruleset, aws=aws, progress=progress)
    return report(args, result)
