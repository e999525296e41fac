"""``auditor waivers list|validate``, and WAIVERS_ENV, the variable naming their default file."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..report import status
from ..report.listings import waivers_listing
from ..waivers import load_waivers
from .common import EXIT_OK, usage_error

WAIVERS_ENV = "AUDITOR_WAIVERS"   # default waiver file of `auditor waivers` (the daemon's `waivers` key)


def cmd_waivers(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    path = args.file or (Path(os.environ[WAIVERS_ENV]) if os.environ.get(WAIVERS_ENV) else None)
    if path is None:
        return usage_error(f"no waiver file: give FILE or set {WAIVERS_ENV}")
    waivers = load_waivers(path)
    today = datetime.now(UTC).date()
    if args.waivers_command == "validate":
        sys.stdout.write(status.waivers_valid(path, waivers, today))
        return EXIT_OK
    sys.stdout.write(waivers_listing(path, waivers, today, args.format, color=sys.stdout.isatty()))
    return EXIT_OK
