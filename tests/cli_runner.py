"""Run the CLI in-process and read its JSON report, validated against the published schema."""
from __future__ import annotations

import json

import jsonschema

from auditor import cli
from auditor.package_data import package_path

REPORT_SCHEMA = json.loads(package_path("schemas", "report.schema.json").read_text())


def audit(capsys, *args: str) -> tuple[int, str, str]:
    """``auditor audit --quiet ARGS``: exit code, stdout, stderr."""
    code = cli.main(["audit", "--quiet", "--max-attempts", "2", *args])
    out, err = capsys.readouterr()
    return code, out, err


def audit_json(capsys, architecture: str, *args: str) -> tuple[int, dict]:
    code, out, _ = audit(capsys, "--architecture", architecture, "--format", "json", *args)
    report = json.loads(out)
    jsonschema.validate(report, REPORT_SCHEMA)
    return code, report


def failing(report: dict) -> dict[str, list[dict]]:
    """Failing findings by rule id."""
    out: dict[str, list[dict]] = {}
    for f in report["findings"]:
        if f["status"] == "fail":
            out.setdefault(f["rule_id"], []).append(f)
    return out


def run(capsys, *args: str) -> tuple[int, str, str]:
    """``auditor ARGS``: exit code, stdout, stderr."""
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err
