"""``auditor iam-policy``: the least-privilege IAM policy of the audits, as JSON."""
from __future__ import annotations

import argparse
import json

from ..iam import policy
from .common import EXIT_OK


def cmd_iam_policy(args: argparse.Namespace) -> int:
    implied = [*(["channel-secrets"] if args.secret_arns else []), *(["assume-role"] if args.role_arns else [])]
    print(json.dumps(policy(args.architecture, [*args.extras, *implied], args.secret_arns, args.role_arns), indent=2))
    return EXIT_OK
