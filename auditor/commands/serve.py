"""``auditor serve``: the daemon (:mod:`auditor.daemon`), imported only when it runs."""
from __future__ import annotations

import argparse


def cmd_serve(args: argparse.Namespace) -> int:
    from ..daemon.service import main as serve
    return serve(args.config, check=args.check, shard=args.shard)
