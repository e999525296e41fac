"""docs/writing-a-pack.md's worked example: the orders pack validates, cites its document, passes its
inline cases and encodes every numbered statement; the guide names only files that exist."""
from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from cli_runner import run

from auditor.rules.citations import missing_fragments

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "writing-a-pack.md"
EXAMPLE = ROOT / "docs" / "examples" / "orders"
DOCUMENT = EXAMPLE / "ARCHITECTURE.md"
PACK = EXAMPLE / "orders.yaml"
NAMES = EXAMPLE / "names-mattilda.yaml"

STATEMENT = re.compile(r"^\*\*S(\d+)\.\*\*\s+(.+)$", re.MULTILINE)
FENCED = re.compile(r"^[ \t]*```[^\n]*\n(.*?)^[ \t]*```", re.MULTILINE | re.DOTALL)
EXAMPLE_PATH = re.compile(r"docs/examples/[\w./-]*[\w/]")
ELISION = re.compile(r"\s\.\.\.\s")
# a region or zone name, or an AWS host: the shipped packs' conditions name none (tests/test_rule_files.py)
REGION_BOUND = re.compile(r"\b[a-z]{2}(?:-gov)?-(?:north|south|east|west|central)+-\d[a-z]?\b|amazonaws\.com")


def _statements() -> dict[int, str]:
    return {int(n): text for n, text in STATEMENT.findall(DOCUMENT.read_text())}


def _rules() -> list[dict]:
    return yaml.safe_load(PACK.read_text())["rules"]


def test_the_document_numbers_48_statements():
    assert sorted(_statements()) == list(range(1, 49))


def test_the_pack_validates_with_its_citations(capsys):
    code, out, err = run(capsys, "rules", "validate", "--docs", str(EXAMPLE), str(PACK))
    assert code == 0, err
    rules = len(_rules())
    assert f"1 files, {rules} rules: valid; {rules} rule and 0 budget quotes found in" in out
    assert out.split(" in ")[0] in GUIDE.read_text(), "the guide quotes the validate output of the current pack"


def test_the_inline_cases_pass(capsys):
    code, out, err = run(capsys, "rules", "test", str(PACK))
    assert code == 0, out + err
    passed = re.search(r"(\d+) passed, 0 failed", out)
    assert passed, out
    assert f"{passed[1]} passed, 0 failed" in GUIDE.read_text(), "the guide gives the current number of cases"
    assert all({"pass", "fail"} <= {t["expect"] for t in rule["tests"]} for rule in _rules())


def test_every_statement_is_cited_by_a_rule():
    statements = _statements()
    cited: dict[int, list[str]] = {n: [] for n in statements}
    for rule in _rules():
        assert rule["doc"]["file"] == DOCUMENT.name, rule["id"]
        for fragment in rule["doc"]["quote"].split("; "):
            for piece in (p.strip() for p in ELISION.split(fragment)):
                for n, text in statements.items():
                    if piece and not missing_fragments(piece, text):
                        cited[n].append(rule["id"])
    assert [n for n, rules in cited.items() if not rules] == []


def test_the_names_file_names_parameters_of_the_pack():
    params = yaml.safe_load(PACK.read_text())["params"]
    names = yaml.safe_load(NAMES.read_text())
    assert names and set(names) <= set(params)


def test_no_condition_is_bound_to_a_region():
    pack = yaml.safe_load(PACK.read_text())
    conditions = {"selector": pack["selector"], "params": pack["params"],
                  **{r["id"]: [*r.get("scope", []), *r.get("assert", [])] for r in pack["rules"]}}
    assert {k: found for k, v in conditions.items() if (found := REGION_BOUND.findall(json.dumps(v)))} == {}


def test_the_guide_names_only_files_that_exist():
    guide = GUIDE.read_text()
    named = {m for block in FENCED.findall(guide) for m in EXAMPLE_PATH.findall(block)}
    assert {"docs/examples/orders/orders.yaml", "docs/examples/orders/names-mattilda.yaml"} <= named
    assert [p for p in sorted(named) if not (ROOT / p).exists()] == []
    linked = set(re.findall(r"\]\((examples/[^)#\s]+)\)", guide))
    assert linked and [p for p in sorted(linked) if not (GUIDE.parent / p).exists()] == []
