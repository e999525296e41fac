"""The condition language, the operator table, parameters and rule evaluation over a snapshot."""
from __future__ import annotations

import pytest

from auditor.model import CollectorError, Resource, Snapshot
from auditor.rules.engine import RuleSet, _View, compile_condition
from auditor.rules.loader import LoadedPack
from auditor.rules.operators import OPERATORS
from auditor.rules.schema import Condition, Pack


def check(cond: dict, doc: dict, params: dict | None = None):
    fn = compile_condition(Condition.model_validate(cond))
    return fn(doc, lambda name: (params or {})[name])


@pytest.mark.parametrize("op,actual,expected,result", [
    ("eq", 5, 5.0, True), ("eq", True, 1, False), ("ne", "a", "b", True),
    ("lt", 1, 2, True), ("le", 2, 2, True), ("gt", None, 1, False), ("ge", "30", 30, True),
    ("in", "gp3", ["gp2", "gp3"], True), ("not_in", "io1", ["gp3"], True),
    ("contains", ["a", "b"], "a", True), ("not_contains", ["a"], "a", False),
    ("subset", ["a"], ["a", "b"], True), ("superset", ["a"], ["a", "b"], False),
    ("exists", None, False, True), ("exists", 0, True, True),
    ("empty", [], True, True), ("empty", None, True, True), ("empty", [1], False, True),
    ("length_eq", [1, 2], 2, True), ("length_ge", "abc", 4, False), ("length_le", {}, 0, True),
    ("regex", "db.t4g.micro", r"^db\.t4g\.", True), ("starts_with", "/ecs/app", "/ecs/", True),
    ("version_eq", "15.4", "15", True), ("version_eq", "16.1", "15", False),
    ("version_eq", "15", "15.4", False), ("version_ge", "16.3", "16.1", True),
    ("cidr_within", "10.0.1.0/24", "10.0.0.0/16", True), ("cidr_within", "10.1.0.0/24", "10.0.0.0/16", False),
    ("cidr_within", "not-a-cidr", "10.0.0.0/16", False),
])
def test_operator_table(op, actual, expected, result):
    assert OPERATORS[op](actual, expected) is result


def test_leaf_failure_names_path_expected_and_actual():
    [f] = check({"key": "multi_az", "op": "eq", "value": True}, {"multi_az": False})
    assert f.expected == "multi_az == true"
    assert f.actual == "multi_az = false"


def test_nested_path_and_param():
    cond = {"key": "deployment_configuration.maximum_percent", "op": "eq", "value": {"param": "max"}}
    assert check(cond, {"deployment_configuration": {"maximum_percent": 200}}, {"max": 200}) == []
    [f] = check(cond, {"deployment_configuration": {"maximum_percent": 150}}, {"max": 200})
    assert f.expected.endswith("== 200") and f.actual.endswith("= 150")


def test_list_quantifiers():
    doc = {"inbound": [{"port": 5432, "roles": ["ecs_service"]}, {"port": 22, "roles": []}]}
    every = {"key": "inbound", "all": [{"key": "port", "op": "eq", "value": 5432}]}
    [f] = check(every, doc)
    assert f.actual == "inbound[1]: port = 22"
    assert check({"key": "inbound", "any": [{"key": "port", "op": "eq", "value": 22}]}, doc) == []
    [f] = check({"key": "inbound", "none": [{"key": "port", "op": "eq", "value": 22}]}, doc)
    assert '"port": 22' in f.actual
    # empty and missing lists: all/none hold vacuously, any does not
    assert check(every, {"inbound": []}) == [] and check(every, {}) == []
    assert check({"key": "inbound", "any": [{"key": "port", "op": "eq", "value": 1}]}, {})[0].actual == \
        "inbound is empty"


def test_boolean_groups_and_not():
    doc = {"a": 1, "b": 2}
    assert check({"any": [{"key": "a", "op": "eq", "value": 9}, {"key": "b", "op": "eq", "value": 2}]}, doc) == []
    assert check({"none": [{"key": "a", "op": "eq", "value": 1}]}, doc)
    assert check({"not": {"key": "a", "op": "eq", "value": 2}}, doc) == []
    [f] = check({"not": {"key": "a", "op": "eq", "value": 1}}, doc)
    assert f.expected == "not (a == 1)"


@pytest.mark.parametrize("bad", [
    {"key": "a"},                                  # no op, no group
    {"op": "eq", "value": 1},                      # op without key
    {"key": "a", "op": "eq", "all": []},           # op and group
    {"all": [], "any": []},                        # two groups
    {"key": "a", "op": "nearly", "value": 1},      # unknown operator
])
def test_malformed_conditions_are_rejected(bad):
    with pytest.raises(ValueError):
        Condition.model_validate(bad)


def _pack(**rule_overrides) -> LoadedPack:
    rule = {
        "id": "t.rds.multi_az", "title": "Multi-AZ", "severity": "high", "resource": "rds_instance",
        "scope": [{"key": "environment", "op": "eq", "value": "production"}],
        "assert": [{"key": "instance_class", "op": "eq", "value": {"param": "klass"}},
                   {"key": "multi_az", "op": "eq", "value": True}],
        "doc": {"file": "doc.txt", "quote": "Multi-AZ: production"}, "remediation": "turn it on",
        "tests": [{"name": "p", "expect": "pass", "resource": {"environment": "production",
                                                              "instance_class": "db.t4g.small", "multi_az": True}},
                  {"name": "f", "expect": "fail", "resource": {"environment": "production",
                                                              "instance_class": "db.t4g.small", "multi_az": False}}],
    }
    rule.update(rule_overrides)
    pack = Pack.model_validate({
        "pack": "t", "title": "t",
        "selector": [{"key": "tags.Project", "op": "eq", "value": {"param": "project"}}],
        "params": {"project": {"default": "demo"},
                   "klass": {"default": "db.t4g.micro", "environments": {"production": "db.t4g.small"}}},
        "rules": [rule]})
    return LoadedPack(pack, path="t.yaml")  # type: ignore[arg-type]


def _db(rid, env, project="demo", **attrs):
    return Resource(type="rds_instance", id=rid, account="1", region="r", name=rid,
                    tags={"Project": project}, environment=env, attributes=attrs)


def test_evaluate_applies_selector_scope_and_per_environment_params():
    snap = Snapshot("1", "r", [
        _db("good", "production", instance_class="db.t4g.small", multi_az=True),
        _db("bad", "production", instance_class="db.t4g.micro", multi_az=False),
        _db("staging", "staging", instance_class="db.t4g.micro", multi_az=False),
        _db("other-app", "production", project="other", instance_class="x", multi_az=False),
    ])
    findings = {f.resource["id"]: f for f in RuleSet([_pack()]).evaluate(snap)}
    assert set(findings) == {"good", "bad", "(none in t/staging)"}
    assert findings["(none in t/staging)"].status == "skip"   # production only: staging is not asked
    assert findings["good"].status == "pass"
    bad = findings["bad"]
    assert bad.status == "fail"
    assert bad.expected == 'instance_class == "db.t4g.small"; multi_az == true'
    assert bad.actual == 'instance_class = "db.t4g.micro"; multi_az = false'
    assert bad.doc == {"file": "doc.txt", "quote": "Multi-AZ: production"}


def test_param_override_from_command_line():
    snap = Snapshot("1", "r", [_db("x", "production", project="renamed", instance_class="db.t4g.small",
                                   multi_az=True)])
    [nothing] = RuleSet([_pack()]).evaluate(snap)
    assert (nothing.status, nothing.deployment) == ("skip", None)
    [f] = RuleSet([_pack()], {"project": "renamed"}).evaluate(snap)
    assert f.status == "pass"


def test_when_absent_fail_reports_what_was_expected():
    pack = _pack(when_absent="fail")
    [f] = RuleSet([pack]).evaluate(Snapshot("1", "r", []))
    assert f.status == "fail" and f.resource["id"] == "(none)"
    assert f.expected == 'a rds_instance where environment == "production" (no t deployment in the account)'


def test_failed_collector_turns_findings_into_errors_never_pass():
    err = CollectorError("rds", "DescribeDBInstances", "AccessDenied", "not allowed", ("rds_instance",))
    [f] = RuleSet([_pack()]).evaluate(Snapshot("1", "r", [], [err]))
    assert f.status == "error"
    assert "rds:DescribeDBInstances failed (AccessDenied: not allowed)" in f.message


def test_failed_dependency_errors_each_resource_in_scope():
    err = CollectorError("ec2", "DescribeRouteTables", "Throttling", "slow down", ("route_table",))
    snap = Snapshot("1", "r", [_db("a", "production", instance_class="db.t4g.small", multi_az=True)], [err])
    [f] = RuleSet([_pack()]).evaluate(snap)
    assert (f.status, f.resource["id"]) == ("error", "a")


def test_inline_tests_run_with_outcomes():
    results = RuleSet([_pack()]).run_tests()
    assert [(r.name, r.expected, r.actual) for r in results] == [("p", "pass", "pass"), ("f", "fail", "fail")]


def test_rule_needs_passing_and_failing_test_cases():
    with pytest.raises(ValueError, match="one test expecting pass and one expecting fail"):
        _pack(tests=[{"name": "p", "expect": "pass", "resource": {}}, {"name": "s", "expect": "skip", "resource": {}}])


def test_undefined_param_is_rejected():
    with pytest.raises(ValueError, match="undefined param 'nope'"):
        _pack(**{"assert": [{"key": "a", "op": "eq", "value": {"param": "nope"}}]})


def test_snapshot_documents_are_immutable():
    snap = Snapshot("1", "r", [_db("a", "production", nested={"list": [1]})])
    doc = snap.document(snap.of_type("rds_instance")[0])
    with pytest.raises(TypeError):
        doc["nested"]["list"].append(2)
    with pytest.raises(TypeError):
        doc["multi_az"] = True


TAGS_DENIED = "rds:ListTagsForResource AccessDenied: no"


def _baseline(*rules: dict) -> LoadedPack:
    tests = [{"name": "p", "expect": "pass", "resource": {"multi_az": True, "tags": {"Owner": "x"}}},
             {"name": "f", "expect": "fail", "resource": {"multi_az": False, "tags": {}}}]
    pack = Pack.model_validate({"pack": "b", "title": "b", "params": {
        "az": {"default": False, "environments": {"production": True}}}, "rules": [
        {"title": r["id"], "severity": "low", "resource": "rds_instance", "doc": {"file": "d", "quote": "q"},
         "remediation": "r", "tests": tests, **r} for r in rules]})
    return LoadedPack(pack, path="b.yaml")  # type: ignore[arg-type]


def _unknown(rid: str, **attrs):
    return Resource(type="rds_instance", id=rid, account="1", region="r", name=rid, environment=None,
                    attributes=attrs, unknown={"tags": TAGS_DENIED, "environment": TAGS_DENIED})


def test_unknown_attributes_error_only_the_rules_that_read_them():
    pack = _baseline(
        {"id": "az", "assert": [{"key": "multi_az", "op": "eq", "value": True}]},
        {"id": "owner", "assert": [{"key": "tags.Owner", "op": "exists", "value": True}]},
        {"id": "az_by_env", "assert": [{"key": "multi_az", "op": "eq", "value": {"param": "az"}}]},
        {"id": "scoped", "scope": [{"key": "tags.Tier", "op": "eq", "value": "db"}],
         "assert": [{"key": "multi_az", "op": "eq", "value": True}]},
        {"id": "items", "assert": [{"key": "parameter_groups", "all": [{"key": "tags", "op": "exists", "value": True}]}]})
    snap = Snapshot("1", "r", [_unknown("blind", multi_az=False, parameter_groups=[]),
                               _db("seen", "production", multi_az=True, parameter_groups=[])])
    found = {(f.rule_id, f.resource["id"]): f for f in RuleSet([pack]).evaluate(snap, baseline="account")}
    assert {k: f.status for k, f in found.items()} == {
        ("az", "blind"): "fail", ("az", "seen"): "pass",
        ("owner", "blind"): "error", ("owner", "seen"): "fail",
        ("az_by_env", "blind"): "error", ("az_by_env", "seen"): "pass",   # its value depends on the environment
        ("scoped", "blind"): "error",                                       # cannot tell whether it applies
        ("items", "blind"): "pass", ("items", "seen"): "pass"}              # tags of the items, not of the resource
    assert found[("owner", "blind")].message == f"cannot evaluate: {TAGS_DENIED}"
    reads = {cr.rule.id: cr.reads for cr in RuleSet([pack]).rules}
    assert reads == {"az": {"multi_az"}, "owner": {"tags"}, "az_by_env": {"multi_az", "environment"},
                     "scoped": {"tags", "multi_az"}, "items": {"parameter_groups"}}


def test_a_deployment_gives_the_environment_that_unknown_tags_hide():
    blind = _unknown("blind", multi_az=False)
    assert _View.blind(blind, {"environment": None}, frozenset({"environment", "multi_az"})) == TAGS_DENIED
    assert _View.blind(blind, {"environment": "production"}, frozenset({"environment", "multi_az"})) is None
    assert _View.blind(blind, {"environment": "production"}, frozenset({"tags", "environment"})) == TAGS_DENIED
