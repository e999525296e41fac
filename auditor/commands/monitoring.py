"""``auditor monitoring export``: the bundled Prometheus, Alertmanager and Grafana files, copied into DIR."""
from __future__ import annotations

import argparse

from .common import EXIT_OK, UsageError


def cmd_monitoring(args: argparse.Namespace) -> int:
    """Copy the bundled auditor/monitoring/ files into DIR, one path printed per file."""
    import shutil

    from ..package_data import package_path

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
