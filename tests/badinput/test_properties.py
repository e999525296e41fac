"""Properties of evaluation over arbitrary input (hypothesis): no shipped rule raises on any
resource document, whatever its shape, and evaluating every pack (deployments included) over
arbitrary resources of every type the rules read returns findings, never an exception.

Deriving relations over arbitrary documents of the collected types (shaped like the declared
attributes, with any value anywhere) never raises either: a step that trips is an error of its
types, and the other steps go on."""
from __future__ import annotations

import functools
import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.audit import load_ruleset
from auditor.collect import attribute_shapes
from auditor.model import CollectorError, Resource, Snapshot
from auditor.relations import RELATIONS, derive
from auditor.rules.loader import architecture_names

RULESETS = {name: load_ruleset(name) for name in architecture_names()}
RULES = {cr.rule.id: cr for rs in RULESETS.values() for cr in rs.rules}


def _words(cr) -> list[str]:
    """The attribute names a rule's conditions mention: documents built from them reach its checks."""
    dumped = json.dumps(cr.rule.model_dump(by_alias=True), default=str)
    keys = re.findall(r'"key": "([^"]+)"', dumped)
    return sorted({w for k in keys for w in re.findall(r"[A-Za-z_][\w-]*", k)} | {"environment", "tags"})


scalars = st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True) | st.text(max_size=12)


def documents(words: list[str]):
    keys = st.sampled_from(words) | st.text(max_size=6)
    values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
                          max_leaves=20)
    return st.dictionaries(keys, values, max_size=8)


BY_TYPE: dict[str, list[str]] = {}
for _id, _cr in sorted(RULES.items()):
    BY_TYPE.setdefault(_cr.rule.resource, []).append(_id)


@functools.cache
def aimed_at(rule_id: str):
    """Documents made of the words one rule's conditions mention (one strategy per rule, built once)."""
    return documents(_words(RULES[rule_id]))


@pytest.mark.slow   # 60 documents for each resource type, each evaluated by every rule of the type
@pytest.mark.parametrize("rtype", sorted(BY_TYPE))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_no_rule_raises_on_any_document(rtype, data):
    """Each document is aimed at one of the type's rules (its words as keys) and goes through all of them:
    a rule meets its own documents and its neighbours', which share most attribute names."""
    doc = data.draw(st.sampled_from(BY_TYPE[rtype]).flatmap(aimed_at))
    for rule_id in BY_TYPE[rtype]:
        try:
            outcome = RULES[rule_id].outcome([doc])
        except Exception as exc:
            raise AssertionError(f"{rule_id} raised {exc!r}") from exc
        assert outcome in ("pass", "fail", "skip"), rule_id


TYPES = sorted({cr.rule.resource for cr in RULES.values()})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_an_audit_over_arbitrary_resources_returns_findings(data):
    words = sorted({w for cr in RULES.values() for w in _words(cr)})
    resources = []
    for i in range(data.draw(st.integers(1, 12))):
        rtype = data.draw(st.sampled_from(TYPES))
        project = data.draw(st.sampled_from([None, *RULESETS]))
        resources.append(Resource(
            type=rtype, id=f"{rtype}-{i}", account="123456789012", region="eu-west-1", name=f"r{i}",
            arn=None, tags={"Project": project} if project else {},
            environment=data.draw(st.sampled_from([None, "production", "staging"])),
            attributes=data.draw(documents(words))))
    snapshot = Snapshot("123456789012", "eu-west-1", resources)
    ruleset = RULESETS[data.draw(st.sampled_from(sorted(RULESETS)))]
    findings = ruleset.evaluate(snapshot)
    assert findings and {f.status for f in findings} <= {"pass", "fail", "error", "skip"}


SHAPES = attribute_shapes()
RELATED_TYPES = sorted(set(RELATIONS) | {"route_table", "internet_gateway", "network_interface",
                                                                  "ecs_task_definition", "scalable_target",
                                                                  "cloudwatch_alarm"} & set(SHAPES))


def shaped(shape, depth: int = 0):
    """Documents with the declared names (each possibly missing) and any value, or a nested shape's."""
    anything = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                                                 max_size=3), max_leaves=8)
    fields = {}
    for name, inner in (shape or {}).items():
        value = anything
        if inner and depth < 2:
            value = anything | shaped(inner, depth + 1) | st.lists(shaped(inner, depth + 1), max_size=2)
        fields[name] = value
    return st.fixed_dictionaries({}, optional=fields)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_deriving_relations_over_arbitrary_documents_never_raises(data):
    ids = st.sampled_from(["a", "b", "c"])
    resources = []
    for i in range(data.draw(st.integers(1, 10))):
        rtype = data.draw(st.sampled_from(RELATED_TYPES))
        attributes = data.draw(shaped(SHAPES[rtype]))
        for ref in ("vpc_id", "subnet_id", "route_table_id", "load_balancer_arn", "cluster_name"):
            if ref in SHAPES[rtype] and data.draw(st.booleans()):
                attributes[ref] = data.draw(ids)   # references that resolve, so steps reach deeper
        resources.append(Resource(type=rtype, id=data.draw(ids) if i % 2 else f"{rtype}-{i}", account="123456789012",
                                  region="eu-west-1", name=f"r{i}", arn=None, tags={}, environment=None,
                                  attributes=attributes))
    errors: list[CollectorError] = []
    out = derive(resources, errors)
    assert [(r.type, r.id) for r in out] == [(r.type, r.id) for r in resources]
    assert all(e.service == "auditor" and e.operation.startswith("derive ") and e.resource_types for e in errors)


@pytest.mark.parametrize("value", ["0", 1.0, [{"target_group_arn": ["x"]}]])
def test_an_odd_membership_attribute_costs_its_edge_not_the_audit(value, caplog):
    """Found by the property above: a service whose ``load_balancers`` is no list of mappings."""
    service = Resource(type="ecs_service", id="svc", account="123456789012", region="eu-west-1", name="svc", arn=None,
                       tags={"Project": "fckdoomscroll"}, environment=None, attributes={"load_balancers": value})
    findings = RULESETS["fckdoomscroll"].evaluate(Snapshot("123456789012", "eu-west-1", [service]))
    assert findings and {f.status for f in findings} <= {"pass", "fail", "error", "skip"}
    if not isinstance(value, list):
        assert "deployments: cannot follow service_target_groups from ecs_service svc" in caplog.text
