"""Quotes against their documents: auditor.rules.citations and ``auditor rules validate --docs``."""
from __future__ import annotations

from pathlib import Path

import pytest
from cli_runner import run

from auditor.rules.citations import missing_fragments

DOCUMENT = """# Service

### Database
**Engine**: PostgreSQL 16
- **Instance Class**:
  - Dev: db.t4g.micro
  - Prod: db.t4g.small
- **Multi-AZ**: Yes (automatic failover)

**Security Group** (`rds-sg`):
```
Inbound:
  - Port 5432 from ecs-sg
```

| Service | Staging | Production |
|---------|---------|------------|
| RDS | ~$30 | ~$60 |
| **Total** | **~$77** | **~$122** |
"""


@pytest.mark.parametrize("quote", [
    "Engine: PostgreSQL 16",                                        # bold markers ignored
    "Instance Class: Dev: db.t4g.micro, Prod: db.t4g.small",        # a list quoted on one line
    "Security Group (`rds-sg`): Inbound: - Port 5432 from ecs-sg",  # across a code fence
    "| **Total** | **~$77** | **~$122** | (Production column)",     # trailing note
    "Engine: PostgreSQL 16; Multi-AZ: Yes (automatic failover)",    # fragments joined by "; "
    "Engine: PostgreSQL 16 ... Multi-AZ: Yes",                      # elision
])
def test_quote_found(quote):
    assert missing_fragments(quote, DOCUMENT) == []


def test_quote_not_found_names_the_fragment():
    assert missing_fragments("Engine: PostgreSQL 16; Multi-AZ: No (Production column)", DOCUMENT) == \
        ["Multi-AZ: No (Production column)"]
    assert missing_fragments("Engine: PostgreSQL 15 ... Multi-AZ: Yes", DOCUMENT) == ["Engine: PostgreSQL 15"]
    assert missing_fragments("Engine: PostgreSQL 16 Multi-AZ: Yes", DOCUMENT) == \
        ["Engine: PostgreSQL 16 Multi-AZ: Yes"]                    # not contiguous in the document
    assert missing_fragments("Engine: PostgreSQL 1", DOCUMENT) == ["Engine: PostgreSQL 1"]  # not a prefix of 16


PACK = """pack: x
title: t
document: doc.txt
budget:
  environments:
    production:
      monthly_usd: 122
      quote: "{budget}"
      rows:
        - {{item: RDS, services: [rds], monthly_usd: 60, quote: "{row}"}}
rules:
  - id: x.one
    title: one
    severity: low
    resource: rds_instance
    assert:
      - {{key: multi_az, op: eq, value: true}}
    doc:
      file: {file}
      quote: "{quote}"
    remediation: r
    tests:
      - {{name: a, expect: pass, resource: {{multi_az: true}}}}
      - {{name: b, expect: fail, resource: {{multi_az: false}}}}
"""


@pytest.fixture
def docs(tmp_path) -> Path:
    d = tmp_path / "docs"
    d.mkdir()
    (d / "doc.txt").write_text(DOCUMENT)
    return d


def _pack(tmp_path: Path, quote: str = "Multi-AZ: Yes", file: str = "doc.txt",
          budget: str = "| **Total** | **~$77** | **~$122** | (Production column)",
          row: str = "| RDS | ~$30 | ~$60 |") -> Path:
    p = tmp_path / "pack.yaml"
    p.write_text(PACK.format(quote=quote, file=file, budget=budget, row=row))
    return p


def test_validate_docs_passes(capsys, tmp_path, docs):
    code, out, err = run(capsys, "rules", "validate", str(_pack(tmp_path)), "--docs", str(docs))
    assert (code, err) == (0, "")
    assert out.strip() == f"1 files, 1 rules: valid; 1 rule and 2 budget quotes found in {docs}"


@pytest.mark.parametrize("change,line,where", [
    ({"quote": "Engine: PostgreSQL 16; Multi-AZ: No"}, 20,
     'rule x.one: field rules[0].doc.quote: not found in doc.txt: "Multi-AZ: No"'),
    ({"budget": "**Total**: ~$99/month"}, 8,
     'rule x.cost.budget: field budget.environments.production.quote: not found in doc.txt: "**Total**: ~$99/month"'),
    ({"row": "| RDS | ~$30 | ~$90 |"}, 10, 'rule x.cost.budget: field budget.environments.production.rows[0].quote: '
                                            'not found in doc.txt: "| RDS | ~$30 | ~$90 |"'),
    ({"file": "other.txt"}, 19, "rule x.one: field rules[0].doc.file: no document 'other.txt' in {docs}"),
], ids=["rule quote", "budget quote", "budget row quote", "missing document"])
def test_validate_docs_names_file_line_rule_and_field(capsys, tmp_path, docs, change, line, where):
    p = _pack(tmp_path, **change)
    code, out, err = run(capsys, "rules", "validate", str(p), "--docs", str(docs))
    assert (code, out) == (2, "")
    assert err.splitlines() == [f"error: {p}:{line}: " + where.format(docs=docs)]


def test_validate_docs_baseline_citation_not_checked(capsys, tmp_path, docs):
    p = _pack(tmp_path, file="all documents", quote="anything (000)")
    code, out, _ = run(capsys, "rules", "validate", str(p), "--docs", str(docs))
    assert code == 0
    assert out.strip().endswith("0 rule and 2 budget quotes found in " f"{docs}; 1 rules cite no single document: not checked")


def test_validate_docs_missing_directory(capsys, tmp_path):
    code, out, err = run(capsys, "rules", "validate", str(_pack(tmp_path)), "--docs", str(tmp_path / "nowhere"))
    assert (code, out) == (2, "")
    assert err.strip() == f"error: --docs {tmp_path / 'nowhere'}: no such directory"


def test_validate_docs_reports_a_broken_file_and_another_files_missing_quote_in_one_run(capsys, tmp_path, docs):
    quoted = _pack(tmp_path, quote="Engine: PostgreSQL 16; Multi-AZ: No")
    broken = tmp_path / "broken.yaml"
    broken.write_text("pack: y\ntitle: t\nrules: [{id: y.one}]\n")
    code, out, err = run(capsys, "rules", "validate", str(quoted), str(broken), "--docs", str(docs))
    assert (code, out) == (2, "")
    problems = err.splitlines()
    assert any(p.startswith(f"error: {broken}:3: rule y.one: field rules[0]") for p in problems), problems
    assert problems[-1] == f'error: {quoted}:20: rule x.one: field rules[0].doc.quote: not found in doc.txt: "Multi-AZ: No"'
