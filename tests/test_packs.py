"""Every architecture pack against its emulated deployment: compliant in each documented
environment, and each documented drift gives exactly its failing findings.

Budget findings (``<pack>.cost.budget``) are left out here: most documents' cost tables leave out
charges of the very deployment they describe (NAT gateways, load balancer capacity units), so a
compliant deployment can be over its documented budget. tests/cost/test_estimates.py proves each
estimate and budget verdict against a hand computation."""
from __future__ import annotations

import pytest
from cli_runner import audit_json
from cli_runner import failing as all_failing

from auditor.emulated import drifts as drift_registry
from auditor.emulated.architectures import ENVIRONMENTS
from auditor.emulated.demo import deploy
from auditor.rules.loader import architecture_names

PACKS = architecture_names()
MIN_DRIFTS = {"indii-music": 4}


def failing(report: dict) -> dict[str, list[dict]]:
    """Failing findings by rule id, budget rules left out."""
    return {k: v for k, v in all_failing(report).items() if not k.endswith(".cost.budget")}


def test_every_documented_architecture_has_a_pack():
    assert set(PACKS) == set(ENVIRONMENTS)


@pytest.mark.parametrize("architecture,environment",
                         [(a, e) for a in PACKS for e in ENVIRONMENTS[a]])
def test_compliant_deployment_has_no_failing_finding(account, capsys, architecture, environment):
    deploy(architecture, environment, account)
    code, report = audit_json(capsys, architecture)
    assert not failing(report), {k: [(f["resource"]["id"], f["expected"], f["actual"]) for f in v]
                                 for k, v in failing(report).items()}
    assert code == (1 if all_failing(report) else 0)   # only an over-budget finding may fail
    assert report["errors"] == [] and report["environment"] == environment
    own = [f for f in report["findings"] if f["rule_id"].startswith(f"{architecture}.")]
    assert len(own) >= 10, "the pack should evaluate against its deployment"


@pytest.mark.parametrize("architecture", PACKS)
def test_drifts_cover_the_areas(architecture):
    drifts = drift_registry.drifts_for(architecture)
    assert len(drifts) >= MIN_DRIFTS.get(architecture, 8)
    assert len({d.area for d in drifts}) >= min(5, len(drifts))


@pytest.mark.parametrize("architecture,drift",
                         [(a, d) for a in PACKS for d in drift_registry.drifts_for(a)],
                         ids=lambda x: x if isinstance(x, str) else x.name)
def test_documented_drift_gives_exactly_its_findings(account, capsys, architecture, drift):
    environment = drift.environment or ENVIRONMENTS[architecture][0]
    deployment = deploy(architecture, environment, account, [drift.name])
    code, report = audit_json(capsys, architecture)
    assert code == 1
    found = failing(report)
    assert set(found) == set(drift.expect), f"{drift.name}: {sorted(found)}"
    for rule_id, key in drift.expect.items():
        [finding] = found[rule_id]
        if key is None:
            assert finding["resource"]["id"] == "(none)"
        else:
            assert deployment[key] in (finding["resource"]["id"], finding["resource"]["arn"]), finding["resource"]
        assert finding["expected"] and finding["actual"]
        assert finding["doc"]["file"] and finding["doc"]["quote"] and finding["remediation"]
