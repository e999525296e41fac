"""The typed attribute syntax, the literal and inline-document checks of ``rules validate``, and the
attribute reference (``auditor rules attributes``, docs/attributes.md)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from auditor.attributes import Kind, Shape, document_problems, literal_problem, many, resolve, shape
from auditor.cli import main
from auditor.report.attributes import attributes_document
from auditor.rules.loader import RuleFileError, load_pack_file
from auditor.rules.reference import reference

DOCS = Path(__file__).parent.parent / "docs" / "attributes.md"


def test_the_shape_syntax():
    s = shape("status:ACTIVE|INACTIVE count:int ids:[str] tags:map at:time", network=shape("public:bool"),
              listeners=many("port:int"))
    assert {k: str(v) for k, v in s.items()} == {"status": "ACTIVE|INACTIVE", "count": "int", "ids": "[str]", "tags": "map",
                                                 "at": "time", "network": "object", "listeners": "[object]"}
    assert s["status"] == Kind("enum", ("ACTIVE", "INACTIVE")) and s["ids"].many and isinstance(s["listeners"], Shape)
    assert not s["count"], "a kind declares no fields"
    assert resolve("listeners[].port", (s, "t"))[0] == (Kind("int", many=True), "t.listeners.port")
    for bad in ("name", "name:strr", "name:A|"):
        with pytest.raises(ValueError):
            shape(bad)


@pytest.mark.parametrize(("kind", "good", "bad"), [
    ("bool", [True, None], ["DISABLED", 0]), ("int", [3, 3.0], [3.5, "3", True]), ("number", [3.5], ["3"]),
    ("time", ["2024-05-01T10:00:00+00:00"], ["yesterday"]), ("map", [{"a": 1}], [[1]]), ("[str]", [["a"]], ["a", [1]]),
])
def test_what_fits_a_kind(kind, good, bad):
    k = shape(f"x:{kind}")["x"]
    assert all(k.fits(v) for v in good) and not any(k.fits(v) for v in bad)


SERVICE = (shape("desired_count:int launch_type:EC2|FARGATE name:str", network=shape("assign_public_ip:bool")), "ecs_service")


@pytest.mark.parametrize(("key", "op", "value", "problem"), [
    ("network.assign_public_ip", "eq", "DISABLED",
     "'DISABLED' is not a bool; ecs_service.network.assign_public_ip is a bool (true/false)"),
    ("launch_type", "in", ["FARGATE", "FARGTE"],
     "'FARGTE' is not a value of ecs_service.launch_type: EC2, FARGATE (did you mean 'FARGATE'?)"),
    ("launch_type", "eq", "fargate",
     "'fargate' is not a value of ecs_service.launch_type: EC2, FARGATE (did you mean 'FARGATE'?)"),
    ("name", "ge", 3, "op ge compares numbers; ecs_service.name is a string"),
    ("desired_count", "eq", "2", "'2' is not an int; ecs_service.desired_count is an int"),
    ("desired_count", "regex", "^2", "op regex matches strings; ecs_service.desired_count is an int"),
    ("desired_count", "ge", 2, None), ("network.assign_public_ip", "eq", False, None), ("launch_type", "eq", None, None),
])
def test_literal_checks(key, op, value, problem):
    found, unknown = resolve(key, SERVICE)
    assert unknown == [] and literal_problem(op, value, found) == problem


def test_document_checks_name_each_wrong_key_and_value():
    found = document_problems({"network": {"assign_public_ip": "DISABLED"}, "desired_cont": 1}, *SERVICE)
    assert found == [(("network", "assign_public_ip"),
                      "'DISABLED' is not a bool; ecs_service.network.assign_public_ip is a bool (true/false)"),
                     (("desired_cont",), "unknown attribute 'desired_cont' of ecs_service (did you mean 'desired_count'?)")]


def _pack(tmp_path: Path, assert_: list, tests: list, params: dict | None = None) -> Path:
    rule = {"id": "t.rule", "title": "t", "severity": "high", "resource": "rds_instance", "assert": assert_,
            "doc": {"file": "baseline", "quote": "q"}, "remediation": "r", "tests": tests}
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"pack": "t", "title": "t", "params": params or {}, "rules": [rule]}, sort_keys=False))
    return path


CASES = [{"name": "ok", "expect": "pass", "resource": {"multi_az": True}},
         {"name": "no", "expect": "fail", "resource": {"multi_az": False}}]


def _problems(path: Path) -> list[str]:
    with pytest.raises(RuleFileError) as exc:
        load_pack_file(path)
    return [p.split(": ", 1)[1] for p in exc.value.problems]


def test_validate_reports_a_literal_of_the_wrong_type_and_a_misspelt_key(tmp_path):
    path = _pack(tmp_path, [{"key": "multi_az", "op": "eq", "value": "ENABLED"}, {"key": "multiaz", "op": "eq", "value": True}],
                 CASES)
    assert _problems(path) == [
        "rule t.rule: field rules[0].assert[0].value: 'ENABLED' is not a bool; rds_instance.multi_az is a bool (true/false)",
        "rule t.rule: field rules[0].assert[1].key: unknown attribute 'multiaz' of rds_instance (did you mean 'multi_az'?)"]


def test_validate_checks_each_value_of_a_param(tmp_path):
    path = _pack(tmp_path, [{"key": "backup_retention_period", "op": "eq", "value": {"param": "days"}}], CASES,
                 {"days": {"default": "7", "environments": {"production": 14}}})
    assert _problems(path) == ["rule t.rule: field params.days.default: '7' is not an int; rds_instance.backup_retention_period "
                               "is an int, for param 'days' at rules[0].assert[0].value"]


def test_validate_checks_inline_test_documents(tmp_path):
    tests = [{"name": "ok", "expect": "pass", "resource": {"multi_az": "true", "storage_encrypted": True}},
             {"name": "no", "expect": "fail", "resources": [{"multi_az": False, "db_subnet_group": {"vpcid": "v"}}]}]
    path = _pack(tmp_path, [{"key": "multi_az", "op": "eq", "value": True}], tests)
    assert _problems(path) == [
        "rule t.rule: field rules[0].tests[0].resource.multi_az: 'true' is not a bool; "
        "rds_instance.multi_az is a bool (true/false)",
        "rule t.rule: field rules[0].tests[1].resources[0].db_subnet_group.vpcid: unknown attribute 'vpcid' of "
        "rds_instance.db_subnet_group (did you mean 'vpc_id'?)"]


def test_the_reference_has_every_origin_and_its_examples():
    ref = reference()
    svc = ref["ecs_service"]
    assert svc["network.assign_public_ip"] == {"type": "bool", "origin": "collected", "example": False}
    assert svc["launch_type"]["values"] == ["EC2", "FARGATE", "EXTERNAL", "MANAGED_INSTANCES"]
    assert {e["origin"] for e in svc.values()} == {"identity", "collected", "relation"}
    assert ref["deployment"]["pack"]["origin"] == "deployment" and "load_balancer.listeners[].port" not in svc


def test_docs_attributes_md_is_current():
    assert DOCS.read_text() == attributes_document(reference()), \
        "docs/attributes.md is stale: run .venv/bin/python scripts/attribute_reference.py"


def test_rules_attributes_command(capsys):
    assert main(["rules", "attributes", "rds_instance", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out) == ["rds_instance"] and out["rds_instance"]["multi_az"]["type"] == "bool"
    assert main(["rules", "attributes", "rds_instance", "-f", "markdown"]) == 0
    assert "| multi_az | bool | collected |" in capsys.readouterr().out
    assert main(["rules", "attributes", "vpc"]) == 0
    assert "enable_dns_support" in capsys.readouterr().out
    assert main(["rules", "attributes", "rds_instanse"]) == 2
    assert capsys.readouterr().err == "error: unknown resource type 'rds_instanse' (did you mean 'rds_instance'?)\n"
