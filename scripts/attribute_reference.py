"""Write the attribute reference's data: auditor/schemas/attribute-examples.json (one example per
attribute, from the documents of auditor.emulated.documents) and docs/attributes.md.

    .venv/bin/python scripts/attribute_reference.py [--check]

``--check`` writes nothing and exits 1 when either file differs from what it would write."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "attributes.md"


def outputs(documents: list[dict[str, Any]]) -> dict[Path, str]:
    """The files and their text, from these documents."""
    from auditor.report.attributes import attributes_document
    from auditor.rules.reference import EXAMPLES, collect_examples, reference, timeless

    examples = collect_examples(documents)
    bundled = json.loads(EXAMPLES.read_text()) if EXAMPLES.exists() else None
    if bundled is not None and timeless(bundled) == timeless(examples):
        examples = bundled   # the build's clock alone changes nothing
    return {EXAMPLES: json.dumps(examples, indent=1, sort_keys=True) + "\n", DOCS: attributes_document(reference(examples))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    args = parser.parse_args()
    stale = []
    from auditor.emulated.documents import emulated_documents

    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")   # moto's, never real ones
    os.environ.pop("AWS_ENDPOINT_URL", None)
    for path, text in outputs(emulated_documents()).items():
        if (path.read_text() if path.exists() else None) != text:
            stale.append(path)
            if not args.check:
                path.write_text(text)
    for path in stale:
        print(f"{'stale' if args.check else 'wrote'} {path.relative_to(ROOT)}")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
