"""Every architecture pack against its emulated deployment: compliant in each documented
environment under both tagging styles, every pack rule applying to something, and each
documented drift giving exactly its failing findings.

Under tagging style ``owners`` the account is built the way real teams leave it: only the VPC,
cluster, services, load balancer, database, cache and ECR repositories carry
Project/Environment; the neighbour application ``billing`` (not a pack; its secrets, log groups
and dashboard look like the packs' on purpose) and, where the document's names allow two
environments in one account (``demo.companions``), the pack's other environments stand beside
it. The audited environment is built first, so resources named once for every environment
(secrets, log groups, ECR repositories) are its own, shared by the others.

Failing means at or above ``low`` (the audit's default ``--fail-on``): budgets included, since
the budget rule compares the estimate with the document's cost table row by row; what a table
does not itemize is an ``info`` finding (``<pack>.cost.unitemized``), never a failure."""
from __future__ import annotations

import copy

import moto_state
import pytest
from cli_runner import audit_json
from cli_runner import failing as all_failing

from auditor.emulated import drifts as drift_registry
from auditor.emulated.architectures import ENVIRONMENTS
from auditor.emulated.builder import Deployment
from auditor.emulated.demo import apply_drifts, companions, deploy, deploy_many
from auditor.rules.loader import architecture_names

pytestmark = pytest.mark.slow

PACKS = [a for a in architecture_names() if a in ENVIRONMENTS]   # a team's own pack beside them has no emulated account
MIN_DRIFTS = {"indii-music": 4}
COMPLIANT = [(a, e) for a in PACKS for e in ENVIRONMENTS[a]]
# Pack rules that rightly apply to nothing on a compliant deployment: (rule id, environment or
# None for every environment) -> why.
RIGHTLY_SILENT = {
    ("miss-you-app.alb.https_listener", "development"): "HTTPS exists 'when domain configured'; development has no domain",
    ("miss-you-app.alb.acm_certificate", "development"): "no domain in development, so no HTTPS listener to carry one",
    ("miss-you-app.alb.http_redirects_to_https", "development"): "no HTTPS in development to redirect to",
    ("indii-music.rds.automated_backups", None): "RDS is 'planned for future use': the rule waits for the database",
    ("indii-music.rds.automated_failover", None): "RDS is 'planned for future use': the rule waits for the database",
}


def failing(report: dict) -> dict[str, list[dict]]:
    """Failing findings at or above ``low``, by rule id."""
    return {k: v for k, v in all_failing(report).items() if v[0]["severity"] != "info"}


# Under ``owners``, each (architecture, environment) account is built once per process, saved, and put back
# for each test, which then applies its drift: the same account as a build of its own, in a tenth of the time.
_BUILT: dict[tuple[str, str], tuple[moto_state.State, Deployment]] = {}


def build(account: str, architecture: str, environment: str, tagging: str, drifts=()) -> Deployment:
    """The pack's deployment; under ``owners`` with its companions and the neighbour beside it."""
    if tagging == "all":
        return deploy(architecture, environment, account, drifts, tagging="all")
    if (architecture, environment) in _BUILT:
        saved, built = _BUILT[architecture, environment]
        moto_state.restore(saved)
    else:
        entries = [(architecture, environment), *((architecture, e) for e in companions(architecture, environment))]
        built = deploy_many(account, entries, tagging="owners", neighbour=True)[0]
        _BUILT[architecture, environment] = moto_state.save(), built
    deployment = copy.deepcopy(built)   # a drift may record what it creates
    apply_drifts(account, architecture, deployment, drifts)
    return deployment


def test_every_documented_architecture_has_a_pack():
    assert set(ENVIRONMENTS) <= set(architecture_names())


@pytest.mark.parametrize("tagging", ["all", "owners"])
@pytest.mark.parametrize("architecture,environment", COMPLIANT)
def test_compliant_deployment_has_no_failing_finding(account, capsys, architecture, environment, tagging):
    build(account, architecture, environment, tagging)
    code, report = audit_json(capsys, architecture)
    assert not failing(report), {k: [(f["resource"]["id"], f["expected"], f["actual"]) for f in v]
                                 for k, v in failing(report).items()}
    assert code == 0
    assert report["errors"] == [] and environment in report["environment"].split(",")
    own = [f for f in report["findings"] if f["rule_id"].startswith(f"{architecture}.")]
    assert len(own) >= 10, "the pack should evaluate against its deployment"
    silent = [(s["rule_id"], s["reason"]) for s in report["summary"]["coverage"]["applied_to_nothing"]
              if s["rule_id"].startswith(f"{architecture}.")
              and not {(s["rule_id"], None), (s["rule_id"], s["deployment"].split("/")[-1])} & set(RIGHTLY_SILENT)]
    assert not silent, f"pack rules that applied to nothing on their own compliant deployment: {silent}"


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
    assert set(drift.environments) <= {environment, *companions(architecture, environment)}, \
        "the drift needs environments that cannot share an account"
    deployment = build(account, architecture, environment, "owners", [drift.name])
    code, report = audit_json(capsys, architecture)
    assert code == 1
    found = failing(report)
    assert set(found) == set(drift.expect), f"{drift.name}: {sorted(found)}"
    where = f"{architecture}/{environment}"   # the drifted deployment, when the engine names it
    for rule_id, key in drift.expect.items():
        # a resource named once for every environment (a secret, a repository) that the drift
        # removes is missing from the pack's other deployments too
        [finding] = [f for f in found[rule_id] if f.get("deployment") in (None, where)]
        assert all((f["deployment"] or where).startswith(f"{architecture}/") for f in found[rule_id])
        if key is None:
            assert finding["resource"]["id"] in ("(none)", f"(none in {where})")
        else:
            assert deployment[key] in (finding["resource"]["id"], finding["resource"]["arn"]), finding["resource"]
        assert finding["expected"] and finding["actual"]
        assert finding["doc"]["file"] and finding["doc"]["quote"] and finding["remediation"]
