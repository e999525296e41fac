"""``auditor inspect``: whole documents of the emulated mattilda deployment, and --rule's explanation,
whose statuses are the audit's."""
from __future__ import annotations

import json

import pytest
import requests
import yaml
from cli_runner import audit_json, run

from auditor.audit import load_ruleset
from auditor.emulated.demo import deploy
from auditor.model import Resource
from auditor.report.inspect import render_documents
from auditor.rules.engine import explain

SERVICE = "mattilda-api-service"


@pytest.fixture(scope="module")
def drifted(moto_endpoint):
    """mattilda production with its API service scaled down to one task, built once for the module."""
    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=10).raise_for_status()
    deploy("mattilda", "production", moto_endpoint, ["desired-count-1"])
    return moto_endpoint


@pytest.fixture
def live(drifted, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", drifted)
    return drifted


def inspect(capsys, *args: str) -> tuple[int, str, str]:
    return run(capsys, "inspect", *args, "-a", "mattilda")


def test_whole_document_by_name_and_by_id_in_yaml_and_json(live, capsys):
    code, out, err = inspect(capsys, "ecs_service", SERVICE, "--format", "json")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert doc["name"] == SERVICE and doc["deployment"] == "mattilda/production"
    assert doc["network"]["assign_public_ip"] is False
    assert doc["desired_count"] == 1
    assert len(json.dumps(doc["task_definition"])) > 300 and "..." not in out   # never cut
    code, out, _ = inspect(capsys, "ecs_service", doc["id"], "--format", "yaml")
    assert code == 0 and yaml.safe_load(out) == doc and "&id" not in out and "*id" not in out
    code, out, _ = inspect(capsys, "ecs_service")   # every document of the type: a list
    assert code == 0 and yaml.safe_load(out) == [doc]


def test_unknown_type_and_unknown_name_exit_2_on_one_line(live, capsys):
    code, out, err = inspect(capsys, "ecs_services")
    assert (code, out) == (2, "") and err.count("\n") == 1
    assert err.startswith("error: unknown resource type 'ecs_services': did you mean ecs_service?")
    code, out, err = inspect(capsys, "ecs_service", "nope")
    assert (code, out) == (2, "") and err.count("\n") == 1
    assert err.startswith("error: no ecs_service named nope (known: arn:aws:ecs:") and SERVICE in err
    code, _, err = inspect(capsys, "security_group", "--rule", "mattilda.ecs.desired_tasks")
    assert code == 2 and "judges ecs_service, not security_group" in err


def test_rule_explained_with_the_audits_status(live, capsys):
    _, report = audit_json(capsys, "mattilda")
    audited = {f["rule_id"]: f for f in report["findings"] if f["resource"]["name"] == SERVICE}
    explained = {}
    for rule_id, status in (("mattilda.ecs.desired_tasks", "fail"), ("mattilda.ecs.image_from_ecr", "pass"),
                            ("mattilda.ecs.service_name", "pass")):
        code, out, _ = inspect(capsys, "ecs_service", SERVICE, "--rule", rule_id, "--format", "json")
        [explained[rule_id]] = json.loads(out)
        e, finding = explained[rule_id], audited[rule_id]
        assert code == 0 and e["status"] == finding["status"] == status, rule_id
        assert e["message"] == finding["message"] and e["in_scope"] is True
        assert all(c["holds"] for c in e["assert"]) == (status == "pass")
    assert explained["mattilda.ecs.desired_tasks"]["assert"][0] == {
        "holds": False, "condition": "desired_count >= 2", "key": "desired_count", "op": "ge", "expected": 2,
        "actual": 1, "param": "min_tasks"}
    [images] = explained["mattilda.ecs.image_from_ecr"]["assert"]   # a quantified key: each item, its conditions
    assert images["kind"] == "any" and images["items"][0]["holds"] is True
    assert [c["holds"] for c in explained["mattilda.ecs.service_name"]["scope"]] == [True]

    code, text, _ = inspect(capsys, "ecs_service", SERVICE, "--rule", "mattilda.ecs.desired_tasks")
    assert code == 0 and "status: fail: API service runs 2 tasks" in text
    assert "✗ fail  desired_count >= 2 (param min_tasks)   actual: 1" in text
    assert "✓ pass  desired_count <= 10 (param max_tasks)  actual: 1" in text
    code, text, _ = inspect(capsys, "ecs_service", SERVICE, "--rule", "mattilda.ecs.image_from_ecr")
    assert code == 0 and "some item of images (1 item) meets all of:" in text and "[0] matches" in text


def test_explanation_agrees_with_every_inline_case():
    """On each rule's inline test documents, the explanation's verdict is the rule's outcome."""
    ruleset = load_ruleset("mattilda")
    checked = 0
    for cr in ruleset.rules:
        for case in cr.rule.tests:
            if case.params or len(case.documents) != 1:
                continue
            scope, asserts = explain(cr, case.documents[0])
            if not all(c.holds for c in scope):
                verdict = "fail" if cr.rule.when_absent == "fail" else "skip"
            else:
                verdict = "pass" if all(c.holds for c in asserts) else "fail"
            assert verdict == cr.outcome(case.documents), (cr.rule.id, case.name)
            checked += 1
    assert checked > 50


def test_unknown_attributes_are_shown_with_why():
    r = Resource("log_group", "/ecs/x", "1", "us-east-1", tags={}, unknown={"tags": "logs:ListTagsForResource denied"})
    assert yaml.safe_load(render_documents([(r, r.document())], "yaml", single=True))["_unknown"] == {
        "tags": "logs:ListTagsForResource denied"}


@pytest.mark.e2e
def test_emulated_deployment(capsys):
    """--emulated builds the deployment (moto's state starts over: this test runs last)."""
    code, out, err = run(capsys, "inspect", "ecs_service", SERVICE, "--emulated", "mattilda", "-f", "json")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert doc["desired_count"] == 2 and doc["environment"] == "production"
