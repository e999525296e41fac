"""The attribute table (auditor.attributes) is true: the documents of the emulated accounts hold
every declared attribute, and nothing else, each value of its declared type; the reference's examples
are those the emulated accounts give now."""
from __future__ import annotations

from typing import Any

import pytest

from auditor.attributes import Kind, Shape, document_problems, table
from auditor.collect import resource_types
from auditor.emulated.documents import emulated_documents
from auditor.rules.reference import EXAMPLES, collect_examples, timeless

SHAPES = table()

KNOWN_ABSENT = {   # declared structures that no emulated document fills, and why
    "cloudwatch_alarm.metrics": "no metric-math alarm",
    "ecs_cluster.default_capacity_provider_strategy": "no capacity provider strategy (launch type FARGATE)",
    "ecs_service.deployment_configuration.alarms": "no deployment alarms",
    "ecs_task_definition.runtime_platform": "no runtime platform set",
    "ecs_task_definition.containers.health_check": "no container health check",
    "elasticache_cluster.log_delivery": "no log delivery configured",
    "listener.default_actions.fixed_response": "no fixed-response action",
    "scalable_target.policies.step_adjustments": "target tracking policies only",
    "scalable_target.suspended": "no suspended scaling",
}


@pytest.fixture(scope="module")
def documents(tmp_path_factory) -> list[dict[str, Any]]:
    """Every document of the emulated account the reference's examples come from."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))   # the bundled prices only
        env.delenv("AWS_ENDPOINT_URL", raising=False)
        return emulated_documents()


Keys = dict[tuple[int, str], set[str]]
"""(the shape declaring a key, the key) -> the key's paths, e.g. "rds_instance.db_subnet_group.vpc_id".
Shapes are shared (every type's ``alarms``): a key is found once any use of its shape holds it."""


def _declared(shape: Shape | None, where: str, out: Keys) -> Keys:
    for k, v in (shape or {}).items():
        out.setdefault((id(shape), k), set()).add(f"{where}.{k}")
        _declared(v, f"{where}.{k}", out)
    return out


def _found(value: Any, shape: Shape | None, where: str, out: Keys) -> Keys:
    """The keys in ``value``, as deep as ``shape`` declares its structure (undeclared ones: ``(0, path)``)."""
    if isinstance(shape, Shape) and isinstance(value, list):
        for item in value:
            _found(item, shape, where, out)
    elif isinstance(shape, Shape) and isinstance(value, dict):
        for k, v in value.items():
            out.setdefault((id(shape), k) if k in shape else (0, f"{where}.{k}"), set()).add(f"{where}.{k}")
            _found(v, shape.get(k), f"{where}.{k}", out)
    return out


def _all_found(documents: list[dict[str, Any]]) -> Keys:
    found: Keys = {}
    for d in documents:
        _found(d, SHAPES[d["type"]], d["type"], found)
    return found


def test_every_document_key_is_declared(documents):
    assert {d["type"] for d in documents} == set(SHAPES), "the emulated account should hold every type"
    assert [path for shape, path in _all_found(documents) if shape == 0] == []


def test_every_declared_attribute_is_in_some_document(documents):
    declared: Keys = {}
    for rtype, s in SHAPES.items():
        _declared(s, rtype, declared)
    found = _all_found(documents)
    absent = [paths for key, paths in declared.items() if key not in found]
    excused = tuple(f"{p}." for p in KNOWN_ABSENT)
    assert sorted(min(paths) for paths in absent if not any(p.startswith(excused) for p in paths)) == []
    assert [p for p in KNOWN_ABSENT if not any(q.startswith(f"{p}.") for paths in absent for q in paths)] == [], \
        "found now: no longer known absent"


def test_every_arn_has_the_shape_its_type_declares(documents):
    types = resource_types()
    wrong = [(d["type"], d["arn"]) for d in documents if d["type"] in types and d["arn"]
             and not types[d["type"]].arn_regex.match(d["arn"])]
    assert wrong == []
    assert {d["type"] for d in documents if d["arn"]} >= set(types) - {"scalable_target"}   # moto gives it no ARN


def test_every_value_has_its_declared_type(documents):
    wrong = sorted({message for d in documents for _, message in document_problems(d, SHAPES[d["type"]], d["type"])})
    assert wrong == []


def _times(examples: dict) -> set[tuple[str, str]]:
    """The examples of ``time`` attributes (when the account was built: they differ each run)."""
    from auditor.rules.reference import reference

    return {(rtype, path) for rtype, attrs in reference(examples).items() for path, e in attrs.items()
            if e["type"] == "time" and "example" in e}


def test_the_bundled_examples_are_those_the_emulated_accounts_give(documents):
    import json

    fresh, bundled = collect_examples(documents), json.loads(EXAMPLES.read_text())
    times = _times(fresh) | _times(bundled)
    assert all(Kind("time").fits(v) for rtype, path in times for v in (fresh[rtype].get(path), bundled[rtype].get(path)))
    assert timeless(fresh) == timeless(bundled), \
        "stale examples: run .venv/bin/python scripts/attribute_reference.py (it also writes docs/attributes.md)"
