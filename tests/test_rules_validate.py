"""``auditor rules validate`` reports every problem of every file in one run, each on one line with
its file, line, rule, field and how to fix it; the JSON Schema names the resource types and operators."""
from __future__ import annotations

from pathlib import Path

from cli_runner import run

from auditor.audit import known_resource_types
from auditor.rules.engine import compile_condition
from auditor.rules.operators import OPERATORS
from auditor.rules.schema import OPERATOR_DOCS, Condition, export_json_schema

TAIL = """    doc: {file: f, quote: q}
    remediation: r
    tests:
      - {name: a, expect: pass, resource: {multi_az: true}}
      - {name: b, expect: fail, resource: {multi_az: false}}
"""


def _rule(rule_id: str, condition: str, resource: str = "rds_instance", tests: str | None = None) -> str:
    text = (f"  - id: {rule_id}\n    title: t\n    severity: low\n    resource: {resource}\n"
            f"    assert:\n      - {condition}\n{TAIL}")
    return text if tests is None else text.replace("{name: a,", tests)


FIRST = ("pack: first\ntitle: t\nparams:\n  min_storage: {default: 20}\n  max_storage: {default: 100}\nrules:\n"
         + _rule("x.one", "{key: engine, op: notin, value: [mysql]}")
         + _rule("x.two", "{key: allocated_storage, op: ge, value: {param: min_storag}}")
         + _rule("x.three", "{key: multi_az, op: eq, value: true}", resource="rds_instnace")
         + _rule("x.one", "{key: multi_az, op: eq, value: true}")
         + _rule("x.five", "{key: multi_az, op: eq, value: true}", tests="{name: on,")
         + _rule("x.six", "{key: publically_accessible, op: eq, value: false}"))
SECOND = ("pack: second\ntitle: t\nrules:\n"
          + _rule("x.three", "{key: engine_version, op: version_eq, value: 8.10}")
          + _rule("y.two", "{key: subnets, op: length_ge, value: 1, all: [{key: public, op: eq, value: false}]}")
          + _rule("y.three", "{key: backup_retention_period, op: exists}"))


def _line(text: str, snippet: str, nth: int = 1) -> int:
    """The line of the ``nth`` occurrence of ``snippet`` in ``text``."""
    at = -1
    for _ in range(nth):
        at = text.index(snippet, at + 1)
    return text[:at].count("\n") + 1


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_every_problem_of_every_file_in_one_run(tmp_path, capsys):
    first, second = _write(tmp_path, "a.yaml", FIRST), _write(tmp_path, "b.yaml", SECOND)
    code, out, err = run(capsys, "rules", "validate", str(first), str(second))
    assert (code, out) == (2, "")
    assert err.splitlines() == [f"error: {line}" for line in [
        f"{first}:{_line(FIRST, 'op: notin')}: rule x.one: field rules[0].assert[0].op: unknown operator 'notin' "
        "(did you mean 'not_in'?)",
        f"{first}:{_line(FIRST, 'min_storag}')}: rule x.two: field rules[1].assert[0].value: undefined param "
        "'min_storag' (did you mean 'min_storage'? defined: max_storage, min_storage)",
        f"{first}:{_line(FIRST, 'rds_instnace')}: rule x.three: field rules[2].resource: unknown resource type "
        "'rds_instnace' (did you mean 'rds_instance'? known: " + ", ".join(sorted(known_resource_types())) + ")",
        f"{first}:{_line(FIRST, 'id: x.one', 2)}: rule x.one: field rules[3].id: duplicate id "
        f"(first at {first}:{_line(FIRST, 'id: x.one')})",
        f"{first}:{_line(FIRST, 'name: on')}: rule x.five: field rules[4].tests[0].name: Input should be a valid "
        "string (YAML reads on as the boolean true: quote it: 'on')",
        f"{first}:{_line(FIRST, 'publically')}: rule x.six: field rules[5].assert[0].key: unknown attribute "
        "'publically_accessible' of rds_instance (did you mean 'publicly_accessible'?)",
        f"{second}:{_line(SECOND, 'id: x.three')}: rule x.three: field rules[0].id: duplicate id "
        f"(first at {first}:{_line(FIRST, 'id: x.three')})",
        f"{second}:{_line(SECOND, '8.10')}: rule x.three: field rules[0].assert[0].value: op version_eq: YAML reads "
        "8.10 as the number 8.1: quote it: '8.10'",
        f"{second}:{_line(SECOND, 'length_ge')}: rule y.two: field rules[1].assert[0]: 'op' cannot be combined "
        "with 'all' in one condition: make them two conditions, or move the op inside 'all'",
        f"{second}:{_line(SECOND, 'op: exists')}: rule y.three: field rules[2].assert[0].value: op exists: needs "
        "true or false, got null (no value given: add value: true or value: false)",
    ]]


def test_one_rule_with_a_problem_at_every_stage(tmp_path, capsys):
    """A bad operator no longer hides an undefined parameter, nor that an unknown resource type."""
    text = ("pack: p\ntitle: t\nrules:\n" + _rule("p.one", "{key: multi_az, op: equals, value: true}", "rds_databse")
            .replace("    assert:\n", "    scope:\n      - {key: engine, op: in, value: {param: engines}}\n    assert:\n"))
    path = _write(tmp_path, "p.yaml", text)
    code, _, err = run(capsys, "rules", "validate", str(path))
    assert code == 2
    assert [line.split(": field ")[1].split(":")[0] for line in err.splitlines()] == [
        "rules[0].resource", "rules[0].scope[0].value", "rules[0].assert[0].op"]
    assert "undefined param 'engines' (none defined)" in err


def test_a_broken_rule_costs_only_its_own_later_checks(tmp_path, capsys):
    text = ("pack: p\ntitle: t\nrules:\n" + _rule("p.one", "{key: multi_az, op: eq, value: true}").replace(
        "severity: low", "severity: hihg") + _rule("p.two", "{key: multi_azz, op: eq, value: true}"))
    path = _write(tmp_path, "p.yaml", text)
    code, _, err = run(capsys, "rules", "validate", str(path))
    assert code == 2
    assert err.splitlines() == [
        f"error: {path}:6: rule p.one: field rules[0].severity: Input should be 'critical', 'high', 'medium', 'low' "
        "or 'info' (did you mean 'high'?)",
        f"error: {path}:{_line(text, 'multi_azz')}: rule p.two: field rules[1].assert[0].key: unknown attribute "
        "'multi_azz' of rds_instance (did you mean 'multi_az'?)"]


def test_a_broken_top_level_hides_no_rule_problem(tmp_path, capsys):
    """Without a title the pack fails validation, yet its parameters and rules are still checked."""
    text = ("pack: p\nparams:\n  prefix: {default: on}\nrules:\n"
            + _rule("p.one", "{key: name, op: starts_with, value: {param: prefix}}"))
    path = _write(tmp_path, "p.yaml", text)
    code, _, err = run(capsys, "rules", "validate", str(path))
    assert code == 2
    assert err.splitlines() == [
        f"error: {path}:1: field title: Field required",
        f"error: {path}:3: rule p.one: field params.prefix.default: op starts_with: needs a string, got true, for param 'prefix' "
        "at rules[0].assert[0].value (YAML reads on as the boolean true: quote it: 'on')"]


def test_hints_for_keys_at_the_wrong_level(tmp_path, capsys):
    text = ("pack: p\ntitle: t\nrules:\n" + _rule("p.one", "{key: multi_az, op: eq, vaule: true}")
            .replace("    assert:\n      - ", "    key: engine\n    assert:\n      - {any: [{key: a, op: eq, value: 1}], "
                     "value: 1}\n      - "))
    path = _write(tmp_path, "p.yaml", text)
    code, _, err = run(capsys, "rules", "validate", str(path))
    assert code == 2
    condition = _line(text, "vaule")
    assert err.splitlines() == [
        f"error: {path}:{_line(text, 'key: engine')}: rule p.one: field rules[0].key: Extra inputs are not permitted "
        "(conditions go in a list under scope or assert: - {key: ..., op: ..., value: ...})",
        f"error: {path}:{condition - 1}: rule p.one: field rules[0].assert[0]: 'value' needs an 'op': the conditions "
        "under 'any' carry their own",
        f"error: {path}:{condition}: rule p.one: field rules[0].assert[1].vaule: Extra inputs are not permitted "
        "(did you mean 'value'?)"]


def test_shipped_packs_stay_valid(capsys):
    assert run(capsys, "rules", "validate")[0] == 0


def test_json_schema_enumerates_resource_types_and_operators():
    defs = export_json_schema()["$defs"]
    resource = defs["Rule"]["properties"]["resource"]
    assert resource["enum"] == sorted(known_resource_types())
    assert len(resource["enumDescriptions"]) == len(resource["enum"])
    [op] = [s for s in defs["Condition"]["properties"]["op"]["anyOf"] if "enum" in s]
    assert op["enum"] == sorted(OPERATORS) == sorted(OPERATOR_DOCS)
    assert op["enumDescriptions"] == [OPERATOR_DOCS[name] for name in op["enum"]]


def test_what_the_descriptions_say_is_what_the_operators_do():
    """The examples in the descriptions of the version and CIDR operators and of a quantified key."""
    version_eq, version_ge, cidr_within = (OPERATORS[n] for n in ("version_eq", "version_ge", "cidr_within"))
    assert version_eq("8.0", "8.0") and version_eq("8.0.35", "8.0") and version_eq("8.4", "8")
    assert not version_eq("8.4", "8.0") and not version_eq("8", "8.0")
    assert version_eq("8.0.35-r1", "8.0.35.1")
    assert version_ge("8.0.35", "8.0") and version_ge("16.1", "15.4") and not version_ge("8", "8.0")
    assert cidr_within("10.0.1.0/24", "10.0.0.0/16") and cidr_within("10.0.0.5", "10.0.0.0/16")
    assert not cidr_within("fd00::/64", "10.0.0.0/16")
    assert "'8.0' matches 8.0 and 8.0.35 but not 8.4 or 8" in OPERATOR_DOCS["version_eq"]
    some = Condition.model_validate({"key": "inbound", "any": [{"key": "port", "op": "eq", "value": 22},
                                                                {"key": "open", "op": "eq", "value": True}]})
    holds = compile_condition(some)
    split = {"inbound": [{"port": 22, "open": False}, {"port": 80, "open": True}]}
    assert holds(split, lambda name: None) != []   # no one item meets both
    assert holds({"inbound": [{"port": 22, "open": True}]}, lambda name: None) == []
    assert holds({"inbound": []}, lambda name: None) != []
    described = export_json_schema()["$defs"]["Condition"]["properties"]
    assert "at least one item of the list at key meets ALL the listed conditions together" in \
        described["any"]["description"]


def test_a_param_inside_a_list_is_refused_with_the_way_to_write_it(tmp_path, capsys):
    path = tmp_path / "p.yaml"
    path.write_text(PARAM_IN_LIST)
    code, _, err = run(capsys, "rules", "validate", str(path))
    assert code == 2
    assert err.splitlines() == [f"error: {path}:12: rule p.one: field rules[0].assert[0].value: a {{param: NAME}} inside a "
                                "list is not replaced: make the whole list one parameter (value: {param: NAME}, the "
                                "parameter's value a list)"]
    path.write_text(PARAM_IN_LIST.replace("value: [{param: api}, worker]", "value: {param: clients}"))
    assert run(capsys, "rules", "validate", str(path))[0] == 0


PARAM_IN_LIST = """pack: p
title: t
params:
  api: {default: api}
  clients: {default: [api, worker]}
rules:
  - id: p.one
    title: one
    severity: low
    resource: security_group
    assert:
      - {key: "inbound[].peers[]", op: subset, value: [{param: api}, worker]}
    doc: {file: f, quote: q}
    remediation: r
    tests:
      - {name: a, expect: pass, resource: {inbound: [{peers: [api]}]}}
      - {name: b, expect: fail, resource: {inbound: [{peers: [api, billing]}]}}
"""


def test_a_rule_with_a_bad_test_name_still_has_its_keys_and_documents_checked(tmp_path, capsys):
    path = tmp_path / "t.yaml"
    path.write_text(MISSPELT_BESIDE_BAD_NAMES)
    code, _, err = run(capsys, "rules", "validate", str(path))
    assert code == 2
    assert [line.split(": rule t.one: ", 1)[1] for line in err.splitlines()] == [
        "field rules[0].assert[0].key: unknown attribute 'multiaz' of rds_instance (did you mean 'multi_az'?)",
        "field rules[0].assert[1].op: unknown operator 'gte' (did you mean 'ge'?)",
        "field rules[0].tests[0].name: Input should be a valid string (YAML reads on as the boolean true: quote it: 'on')",
        "field rules[0].tests[0].resource.multiaz: unknown attribute 'multiaz' of rds_instance (did you mean 'multi_az'?)",
        "field rules[0].tests[1].name: Input should be a valid string (YAML reads off as the boolean false: quote it: 'off')",
        "field rules[0].tests[1].resource.multi_az: 'no' is not a bool; rds_instance.multi_az is a bool (true/false)"]


MISSPELT_BESIDE_BAD_NAMES = """pack: t
title: t
rules:
  - id: t.one
    title: one
    severity: low
    resource: rds_instance
    assert:
      - {key: multiaz, op: eq, value: true}
      - {key: allocated_storage, op: gte, value: 20}
    doc: {file: f, quote: q}
    remediation: r
    tests:
      - {name: on, expect: pass, resource: {multiaz: true}}
      - {name: off, expect: fail, resource: {multi_az: "no"}}
"""
