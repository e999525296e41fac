"""Rule files: the shipped packs validate and pass their inline tests; errors name file and line."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from cli_runner import run

from auditor.audit import known_resource_types
from auditor.emulated.architectures import ENVIRONMENTS
from auditor.package_data import package_path
from auditor.rules.engine import RuleSet
from auditor.rules.loader import RuleFileError, load_packs, rules_root
from auditor.rules.schema import export_json_schema

ROOT = Path(__file__).resolve().parents[1]
DOCS_ENV = "ARCHITECTURE_DOCS_DIR"   # the architecture documents (not AUDITOR_*: that prefix is the daemon's settings)


# loaded once for the module: parsing every pack takes seconds, and the parametrizations below need them at collection
SHIPPED = load_packs([rules_root()], known_resource_types())


def test_shipped_packs_are_valid():
    packs = SHIPPED
    assert {p.pack.pack for p in packs} >= {"baseline-network", "baseline-data", "mattilda"}


def _inline_cases():
    for result in RuleSet(SHIPPED).run_tests():
        yield pytest.param(result, id=f"{result.rule_id}:{result.name}")


@pytest.mark.parametrize("result", list(_inline_cases()))
def test_inline_rule_case(result):
    assert result.actual == result.expected


# A region or zone name (us-east-1, eu-west-1a, us-gov-west-1) or an AWS host: bound to one region.
REGION_BOUND = re.compile(r"\b[a-z]{2}(?:-gov)?-(?:north|south|east|west|central)+-\d[a-z]?\b|amazonaws\.com")


@pytest.mark.parametrize("loaded", SHIPPED, ids=lambda lp: lp.pack.pack)
def test_no_condition_is_bound_to_a_region(loaded):
    """Selectors, parameters, scopes and asserts judge a deployment the same way in any region:
    zones by letter or count, registries by account and region, never a region's name."""
    pack = loaded.pack
    conditions = {"selector": [c.model_dump(exclude_none=True) for c in pack.selector],
                  "params": {k: v.model_dump() for k, v in pack.params.items()},
                  **{r.id: [c.model_dump(exclude_none=True) for c in (*r.scope, *r.assert_)] for r in pack.rules}}
    bound = {where: found for where, value in conditions.items() if (found := REGION_BOUND.findall(json.dumps(value)))}
    assert bound == {}


def test_every_quote_is_in_the_document_it_cites(capsys):
    """``auditor rules validate --docs`` over the baseline and the documented packs: every cited document
    exists and holds the quote (a team's own pack beside them cites a document of its own). The documents
    are required: set ARCHITECTURE_DOCS_DIR when they are not beside the repository."""
    docs = Path(os.environ.get(DOCS_ENV) or ROOT.parent / "shared" / "architecture-docs")
    if not docs.is_dir():
        pytest.fail(f"architecture documents not found: no directory {docs} "
                    f"(put them there or set {DOCS_ENV} to their directory)", pytrace=False)
    documented = [str(rules_root() / "architectures" / f"{name}.yaml") for name in ENVIRONMENTS]
    code, out, err = run(capsys, "rules", "validate", "--docs", str(docs), str(rules_root() / "baseline"), *documented)
    assert code == 0, err
    found = re.search(r"(\d+) rule and (\d+) budget quotes found in ", out)
    assert found and int(found[1]) > 0 and int(found[2]) > 0, out


def test_exported_json_schema_is_current():
    shipped = json.loads(package_path("schemas", "rules.schema.json").read_text())
    assert shipped == export_json_schema(), "run: auditor rules schema > auditor/schemas/rules.schema.json"


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "broken.yaml"
    p.write_text(text)
    return p


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    p = _write(tmp_path, "pack: x\ntitle: t\nrules:\n  - id: a\n    title: [unclosed\n")
    with pytest.raises(RuleFileError) as exc:
        load_packs([p])
    assert exc.value.problems[0].startswith(f"{p}:")
    assert "invalid YAML" in exc.value.problems[0]


def test_schema_error_names_file_line_rule_and_field(tmp_path):
    p = _write(tmp_path, """pack: x
title: t
rules:
  - id: x.one
    title: one
    severity: urgent
    resource: rds_instance
    assert:
      - {key: multi_az, op: eq, value: true}
    doc: {file: f, quote: q}
    remediation: r
    tests:
      - {name: a, expect: pass, resource: {multi_az: true}}
      - {name: b, expect: fail, resource: {multi_az: false}}
""")
    with pytest.raises(RuleFileError) as exc:
        load_packs([p])
    [problem] = exc.value.problems
    assert problem.startswith(f"{p}:6: rule x.one: field rules[0].severity:")


def test_unknown_resource_type_and_operator(tmp_path):
    p = _write(tmp_path, """pack: x
title: t
rules:
  - id: x.one
    title: one
    severity: low
    resource: rds_database
    assert:
      - {key: multi_az, op: equals, value: true}
    doc: {file: f, quote: q}
    remediation: r
    tests:
      - {name: a, expect: pass, resource: {multi_az: true}}
      - {name: b, expect: fail, resource: {multi_az: false}}
""")
    with pytest.raises(RuleFileError) as exc:
        load_packs([p], known_resource_types())
    resource, op = exc.value.problems   # both in one run, by line
    assert resource.startswith(f"{p}:7: rule x.one: field rules[0].resource: unknown resource type 'rds_database'")
    assert op == f"{p}:9: rule x.one: field rules[0].assert[0].op: unknown operator 'equals' (did you mean 'eq'?)"


def test_duplicate_rule_ids_across_files(tmp_path):
    body = (rules_root() / "baseline" / "data.yaml").read_text()
    (tmp_path / "a.yaml").write_text(body)
    (tmp_path / "b.yaml").write_text(body.replace("pack: baseline-data", "pack: copy"))
    with pytest.raises(RuleFileError, match="duplicate id"):
        load_packs([tmp_path])
