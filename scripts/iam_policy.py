"""Write the IAM policy where it is published: docs/iam-policy.json (``auditor iam-policy --with
cost-explorer,pricing,assume-role,organizations``) and the read-only statement's actions in the two
CloudFormation templates, deploy/audit-role.yaml and deploy/ecs-sidecar.yaml.

    .venv/bin/python scripts/iam_policy.py [--check]

The actions come from each resource type's ``calls`` (auditor/collect/): after adding a type or a call,
this one command updates the three files. ``--check`` writes nothing and exits 1 naming each file that
differs from what it would write."""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS_POLICY = ROOT / "docs" / "iam-policy.json"
TEMPLATES = (ROOT / "deploy" / "audit-role.yaml", ROOT / "deploy" / "ecs-sidecar.yaml")
DOCS_EXTRAS = ("cost-explorer", "pricing", "assume-role", "organizations")


def _read_only_actions(template: str, actions: list[str], path: Path) -> str:
    """``template`` with the ``Action:`` list of its read-only statement replaced by ``actions``."""
    from auditor.iam import REQUIRED_SID

    block = re.compile(rf"^(?P<indent> *)- Sid: {REQUIRED_SID}\n(?:(?P=indent)  (?!Action:).*\n)*"
                       rf"(?P=indent)  Action:\n(?P<items>(?:(?P=indent)    - .*\n)+)", re.MULTILINE)
    found = list(block.finditer(template))
    if len(found) != 1:
        raise SystemExit(f"{path}: expected one '- Sid: {REQUIRED_SID}' statement with an Action list, found {len(found)}")
    match = found[0]
    items = "".join(f"{match['indent']}    - {a}\n" for a in actions)
    return template[:match.start("items")] + items + template[match.end("items"):]


def outputs() -> dict[Path, str]:
    """The three files and their text."""
    from auditor.iam import REQUIRED_SID, policy

    document = policy(None, DOCS_EXTRAS)
    [required] = [s for s in document["Statement"] if s["Sid"] == REQUIRED_SID]
    files = {DOCS_POLICY: json.dumps(document, indent=2) + "\n"}
    for path in TEMPLATES:
        files[path] = _read_only_actions(path.read_text(), required["Action"], path)
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    args = parser.parse_args()
    stale = []
    for path, text in outputs().items():
        if path.exists() and path.read_text() == text:
            continue
        if args.check:
            stale.append(path)
            print(f"stale {path.relative_to(ROOT)}", file=sys.stderr)
        else:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print("run: .venv/bin/python scripts/iam_policy.py", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
