"""``auditor rules list|validate|test|schema|attributes``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..audit import known_resource_types
from ..report import status
from ..report.listings import rules_listing
from ..rules.citations import check_citations
from ..rules.loader import RuleFileError, load_packs, pack_paths, rules_root
from ..rules.schema import export_json_schema
from .common import EXIT_FINDINGS, EXIT_OK, usage_error


def cmd_rules(args: argparse.Namespace) -> int:
    if args.rules_command == "schema":
        print(json.dumps(export_json_schema(), indent=2))
        return EXIT_OK
    if args.rules_command == "list":
        return _rules_list(args)
    if args.rules_command == "attributes":
        return _rules_attributes(args)
    paths = args.paths or [rules_root()]
    if args.rules_command == "validate" and args.docs and not args.docs.is_dir():
        raise RuleFileError([f"--docs {args.docs}: no such directory"])
    try:
        packs = load_packs(paths, known_resource_types())
    except RuleFileError as exc:   # the quotes of the files without problems are checked in the same run
        if args.rules_command != "validate" or not args.docs:
            raise
        raise RuleFileError([*exc.problems, *check_citations(exc.packs, args.docs).problems]) from exc
    if args.rules_command == "validate":
        sys.stdout.write(status.rules_valid(packs, _citations(packs, args.docs) if args.docs else None, args.docs))
        return EXIT_OK
    from ..rules.engine import RuleSet
    results = RuleSet(packs).run_tests()
    sys.stdout.write(status.rule_tests(results, args.verbose))
    return EXIT_FINDINGS if any(not r.ok for r in results) else EXIT_OK


def _citations(packs: list, docs: Path) -> Any:
    """The quote check's report, or RuleFileError naming file, line, rule and field of each problem."""
    report = check_citations(packs, docs)
    if report.problems:
        raise RuleFileError(report.problems)
    return report


def _rules_attributes(args: argparse.Namespace) -> int:
    from ..attributes import did_you_mean
    from ..report.attributes import attributes_listing
    from ..rules.reference import reference

    ref = reference()
    if args.type is not None and args.type not in ref:
        return usage_error(f"unknown resource type '{args.type}'" + did_you_mean(args.type, ref))
    shown = {args.type: ref[args.type]} if args.type else ref
    sys.stdout.write(attributes_listing(shown, args.format, color=sys.stdout.isatty()))
    return EXIT_OK


def _rules_list(args: argparse.Namespace) -> int:
    packs = load_packs(pack_paths(args.architecture, args.rules), known_resource_types())
    sys.stdout.write(rules_listing(packs, args.format, color=sys.stdout.isatty()))
    return EXIT_OK
