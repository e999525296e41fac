"""Rule files that parse but could not run: "valid" means "will run".

A bad JMESPath key, a key naming an attribute its resource type does not have, a bad regular
expression, a value of the wrong type for its operator (written in the rule or reached through a
parameter), a folder holding no rule file: each is refused by
``rules validate``, ``rules test`` and ``audit`` with exit 2 and one line naming the file, the line,
the rule and the field, never a traceback. A rule that still raises while evaluating gives
``error`` findings for itself only."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from cli_runner import audit, run

from auditor.model import Resource, Snapshot
from auditor.rules.engine import RuleSet
from auditor.rules.loader import LoadedPack, load_pack_file
from auditor.rules.operators import OPERATORS
from auditor.rules.schema import Pack

RULE = """pack: x
title: t
params:
  limit: {LIMIT}
rules:
  - id: x.one
    title: one
    severity: low
    resource: rds_instance
    assert:
      - {COND}
    doc: {file: f, quote: q}
    remediation: r
    tests:
      - {name: a, expect: pass, resource: {multi_az: true}{TEST_PARAMS}}
      - {name: b, expect: fail, resource: {multi_az: false}}
"""
GOOD_LIMIT = "{default: 5}"
COND_LINE, LIMIT_LINE, TEST_LINE = 11, 4, 15
A0 = "rules[0].assert[0]"

BAD = {   # name -> (condition, limit param, test params, line, field, message)
    "key unclosed bracket": ('{key: "tags.[[", op: eq, value: 1}', None, None, COND_LINE, f"{A0}.key",
                             "invalid JMESPath expression 'tags.[[': incomplete expression at column 7"),
    "key two words": ('{key: "multi az", op: eq, value: true}', None, None, COND_LINE, f"{A0}.key",
                      "invalid JMESPath expression 'multi az': Unexpected token: az at column 6"),
    "key empty": ('{key: "", op: eq, value: true}', None, None, COND_LINE, f"{A0}.key",
                  "invalid JMESPath expression '': Invalid JMESPath expression: cannot be empty."),
    "key unclosed quote": ("{key: 'tags.\"Name', op: eq, value: 1}", None, None, COND_LINE, f"{A0}.key",
                           "invalid JMESPath expression 'tags.\"Name': Unclosed \" delimiter at column 5"),
    "key unknown function": ('{key: "size(tags)", op: eq, value: 1}', None, None, COND_LINE, f"{A0}.key",
                             "invalid JMESPath expression 'size(tags)': unknown function size()"),
    "key function arity": ('{key: "length(tags, name)", op: eq, value: 1}', None, None, COND_LINE, f"{A0}.key",
                           "invalid JMESPath expression 'length(tags, name)': length() takes 1 argument(s), got 2"),
    "quantified key": ('{key: "inbound[?", all: [{key: port, op: eq, value: 1}]}', None, None, COND_LINE,
                       f"{A0}.key", "invalid JMESPath expression 'inbound[?': incomplete expression at column 9"),
    "nested key": ('{any: [{key: multi_az, op: eq, value: true}, {key: "a..b", op: eq, value: 1}]}', None, None,
                   COND_LINE, f"{A0}.any[1].key",
                   "invalid JMESPath expression 'a..b': Expecting: ['quoted_identifier', 'unquoted_identifier', "
                   "'lbracket', 'lbrace'], got: dot at column 2"),
    "attribute misspelt": ("{key: publically_accessible, op: ne, value: true}", None, None, COND_LINE, f"{A0}.key",
                           "unknown attribute 'publically_accessible' of rds_instance (did you mean "
                           "'publicly_accessible'?)"),
    "nested attribute misspelt": ("{key: db_subnet_group.vpcid, op: exists, value: true}", None, None, COND_LINE,
                                  f"{A0}.key", "unknown attribute 'vpcid' of rds_instance.db_subnet_group (did you "
                                  "mean 'vpc_id'?)"),
    "attribute of another type": ("{key: length(listners), op: ge, value: 1}", None, None, COND_LINE, f"{A0}.key",
                                  "unknown attribute 'listners' of rds_instance"),
    "attribute in a filter": ("{key: \"length(alarms[?metricname == 'CPUUtilization'])\", op: ge, value: 1}", None,
                              None, COND_LINE, f"{A0}.key",
                              "unknown attribute 'metricname' of rds_instance.alarms (did you mean 'metric_name'?)"),
    "attribute of the items": ("{key: subnets, all: [{key: publik, op: eq, value: false}]}", None, None, COND_LINE,
                               f"{A0}.all[0].key",
                               "unknown attribute 'publik' of rds_instance.subnets (did you mean 'public'?)"),
    "attribute with a param": ("{key: allocated_storag, op: ge, value: {param: limit}}", None, None, COND_LINE,
                               f"{A0}.key", "unknown attribute 'allocated_storag' of rds_instance (did you mean "
                               "'allocated_storage'?)"),
    "regex": ('{key: name, op: regex, value: "(["}', None, None, COND_LINE, f"{A0}.value",
              'op regex: invalid regular expression "([": unterminated character set at position 1'),
    "regex not a string": ("{key: name, op: regex, value: [a]}", None, None, COND_LINE, f"{A0}.value",
                           'op regex: needs a regular expression (a string), got ["a"]'),
    "regex under not": ('{not: {key: name, op: regex, value: "a)"}}', None, None, COND_LINE, f"{A0}.not.value",
                        'op regex: invalid regular expression "a)": unbalanced parenthesis at position 1'),
    "ge word": ("{key: allocated_storage, op: ge, value: twenty}", None, None, COND_LINE, f"{A0}.value",
                'op ge: needs a number, got "twenty"'),
    "lt boolean": ("{key: allocated_storage, op: lt, value: true}", None, None, COND_LINE, f"{A0}.value",
                   "op lt: needs a number, got true"),
    "cidr prefix": ("{key: cidr_block, op: cidr_within, value: 10.0.0.0/99}", None, None, COND_LINE, f"{A0}.value",
                    "op cidr_within: invalid CIDR block \"10.0.0.0/99\": '10.0.0.0/99' does not appear to be "
                    "an IPv4 or IPv6 network"),
    "length fraction": ("{key: subnets, op: length_ge, value: 1.5}", None, None, COND_LINE, f"{A0}.value",
                        "op length_ge: needs a whole number >= 0, got 1.5"),
    "length word": ("{key: subnets, op: length_eq, value: two}", None, None, COND_LINE, f"{A0}.value",
                    'op length_eq: needs a whole number >= 0, got "two"'),
    "in scalar": ("{key: engine, op: in, value: postgres}", None, None, COND_LINE, f"{A0}.value",
                  'op in: needs a list, got "postgres"'),
    "not_in scalar": ("{key: engine, op: not_in, value: 5}", None, None, COND_LINE, f"{A0}.value",
                      "op not_in: needs a list, got 5"),
    "subset object": ("{key: roles, op: subset, value: {a: 1}}", None, None, COND_LINE, f"{A0}.value",
                      'op subset: needs a list, got {"a": 1}'),
    "superset string": ("{key: roles, op: superset, value: web}", None, None, COND_LINE, f"{A0}.value",
                        'op superset: needs a list, got "web"'),
    "exists word": ("{key: backup, op: exists, value: 'yes'}", None, None, COND_LINE, f"{A0}.value",
                    'op exists: needs true or false, got "yes"'),
    "exists without value": ("{key: backup, op: exists}", None, None, COND_LINE, f"{A0}.value",
                             "op exists: needs true or false, got null (no value given: add value: true or value: false)"),
    "empty number": ("{key: rules, op: empty, value: 1}", None, None, COND_LINE, f"{A0}.value",
                     "op empty: needs true or false, got 1"),
    "version word": ("{key: engine_version, op: version_eq, value: latest}", None, None, COND_LINE,
                     f"{A0}.value", 'op version_eq: needs a version such as "15" or "16.3", got "latest"'),
    "starts_with number": ("{key: name, op: starts_with, value: 5}", None, None, COND_LINE, f"{A0}.value",
                           "op starts_with: needs a string, got 5 (YAML reads 5 as the number 5: quote it: '5')"),
    "param default": ("{key: allocated_storage, op: ge, value: {param: limit}}", "{default: five}", None,
                      LIMIT_LINE, "params.limit.default",
                      f"op ge: needs a number, got \"five\", for param 'limit' at {A0}.value"),
    "param environment": ("{key: allocated_storage, op: le, value: {param: limit}}",
                          "{default: 5, environments: {production: lots}}", None, LIMIT_LINE,
                          "params.limit.environments.production",
                          f"op le: needs a number, got \"lots\", for param 'limit' at {A0}.value"),
    "param without default": ("{key: subnets, op: length_ge, value: {param: limit}}",
                              "{environments: {production: 2}}", None, LIMIT_LINE, "params.limit.default",
                              "op length_ge: needs a whole number >= 0, got null (no default given), "
                              f"for param 'limit' at {A0}.value"),
    "param in test": ("{key: name, op: regex, value: {param: limit}}", "{default: '^db'}", ", params: {limit: '*'}",
                      TEST_LINE, "rules[0].tests[0].params.limit",
                      "op regex: invalid regular expression \"*\": nothing to repeat at position 0, "
                      f"for param 'limit' at {A0}.value"),
}


def _write(tmp_path: Path, cond: str, limit: str | None = None, test_params: str | None = None) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(RULE.replace("{COND}", cond).replace("{LIMIT}", limit or GOOD_LIMIT)
                    .replace("{TEST_PARAMS}", test_params or ""))
    return path


def load_pack_text(cond: str) -> LoadedPack:
    text = RULE.replace("{COND}", cond).replace("{LIMIT}", GOOD_LIMIT).replace("{TEST_PARAMS}", "")
    return LoadedPack(Pack.model_validate(yaml.safe_load(text)), Path("t.yaml"))


def test_the_template_is_valid(tmp_path, capsys):
    path = _write(tmp_path, "{key: multi_az, op: eq, value: true}")
    assert run(capsys, "rules", "validate", str(path)) == (0, "1 files, 1 rules: valid\n", "")
    assert run(capsys, "rules", "test", str(path))[0] == 0


@pytest.mark.parametrize("case", list(BAD))
def test_rule_that_could_not_run_is_refused_naming_file_line_rule_and_field(case, tmp_path, capsys):
    cond, limit, test_params, line, field, message = BAD[case]
    path = _write(tmp_path, cond, limit, test_params)
    expected = f"error: {path}:{line}: {'' if field.startswith('selector') else 'rule x.one: '}field {field}: {message}"
    for command in ("validate", "test"):
        code, out, err = run(capsys, "rules", command, str(path))
        assert "Traceback" not in out + err
        assert code == 2, (command, out, err)
        assert err.splitlines() == [expected], command


def test_bad_param_in_the_pack_selector(tmp_path, capsys):
    path = _write(tmp_path, "{key: multi_az, op: eq, value: true}", "{default: 3}")
    path.write_text(path.read_text().replace("params:\n", "selector:\n  - {key: tags.Project, op: in, "
                                             "value: {param: limit}}\nparams:\n"))
    code, out, err = run(capsys, "rules", "validate", str(path))
    assert code == 2 and "Traceback" not in out + err
    assert err.splitlines() == [f"error: {path}:6: field params.limit.default: op in: needs a list, got 3, "
                                "for param 'limit' at selector[0].value"]


def test_unknown_attribute_in_the_pack_selector(tmp_path, capsys):
    path = _write(tmp_path, "{key: multi_az, op: eq, value: true}")
    path.write_text(path.read_text().replace("params:\n", "selector:\n  - {key: tag.Project, op: eq, value: x}\nparams:\n"))
    code, out, err = run(capsys, "rules", "validate", str(path))
    assert code == 2 and "Traceback" not in out + err
    assert err.splitlines() == [f"error: {path}:4: field selector[0].key: unknown attribute 'tag' of every resource type "
                                "(did you mean 'tags'?)"]


def test_unknown_attribute_of_the_derived_deployment_type(tmp_path, capsys):
    """The audit derives ``deployment`` resources: their attributes are declared too, in conditions and in
    inline test documents alike."""
    path = _write(tmp_path, "{key: budget.limit, op: le, value: 100}")
    path.write_text(path.read_text().replace("resource: rds_instance", "resource: deployment")
                    .replace("{multi_az: true}", "{budget: {limit_usd: 90}}")
                    .replace("{multi_az: false}", "{budget: {limit_usd: 120}}"))
    code, out, err = run(capsys, "rules", "validate", str(path))
    assert code == 2 and "Traceback" not in out + err
    assert err.splitlines() == [f"error: {path}:{COND_LINE}: rule x.one: field {A0}.key: unknown attribute 'limit' of "
                                "deployment.budget (did you mean 'limit_usd'?)"]
    path.write_text(path.read_text().replace("budget.limit", "budget.limit_usd"))
    assert run(capsys, "rules", "validate", str(path)) == (0, "1 files, 1 rules: valid\n", "")


MISSPELT_NE = "{key: publically_accessible, op: ne, value: true}"


def test_a_misspelt_key_no_longer_passes_every_resource(tmp_path, account, capsys):
    """No document has ``publically_accessible``, so ``ne true`` holds on each: the rule would pass a
    public database. Refused at load, the audit exits 2 instead of reporting that pass."""
    public = Resource(type="rds_instance", id="db1", account="1", region="r", name="db1",
                      attributes={"publicly_accessible": True})
    [cr] = RuleSet([load_pack_text(MISSPELT_NE)]).rules
    assert cr.failures(Snapshot("1", "r", [public]).document(public)) == []
    path = _write(tmp_path, MISSPELT_NE)
    code, out, err = audit(capsys, "--architecture", "mattilda", "--rules", str(path))
    assert code == 2 and "Traceback" not in out + err
    assert err.splitlines() == [f"error: {path}:{COND_LINE}: rule x.one: field {A0}.key: unknown attribute "
                                "'publically_accessible' of rds_instance (did you mean 'publicly_accessible'?)"]


@pytest.mark.parametrize("content", [None, {"notes.txt": "pack: x\n"}, {"sub/README.md": "# none\n"}])
def test_folder_without_rule_files_is_an_error(content, tmp_path, capsys):
    folder = tmp_path / "rules"
    folder.mkdir()
    for name, text in (content or {}).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    for command in ("validate", "test"):
        code, out, err = run(capsys, "rules", command, str(folder))
        assert (code, out) == (2, ""), command
        assert err == f"error: no rule files (*.yaml, *.yml) in {folder}\n"


def test_one_empty_folder_among_paths_is_an_error(tmp_path, capsys):
    good = _write(tmp_path, "{key: multi_az, op: eq, value: true}")
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run(capsys, "rules", "validate", str(good), str(empty))
    assert code == 2
    assert err == f"error: no rule files (*.yaml, *.yml) in {empty}\n"


def test_audit_with_an_empty_rules_folder_exits_2(account, capsys, tmp_path):
    code, out, err = audit(capsys, "--architecture", "mattilda", "--rules", str(tmp_path))
    assert code == 2 and "Traceback" not in out + err
    assert err.strip() == f"error: no rule files (*.yaml, *.yml) in {tmp_path}"


# -- a rule that validates yet raises while evaluating (here: an operator that raises)

SECOND = """  - id: x.two
    title: two
    severity: low
    resource: rds_instance
    assert:
      - {key: multi_az, op: eq, value: true}
    doc: {file: f, quote: q}
    remediation: r
    tests:
      - {name: a, expect: pass, resource: {multi_az: true}}
      - {name: b, expect: fail, resource: {multi_az: false}}
"""
RUNTIME = RULE.replace("{LIMIT}", GOOD_LIMIT).replace("{TEST_PARAMS}", "").replace(
    "{COND}", "{key: allocated_storage, op: ge, value: 1}") + SECOND


def _raising(actual, expected):
    raise ZeroDivisionError("division by zero")


@pytest.fixture
def runtime_file(tmp_path, monkeypatch):
    monkeypatch.setitem(OPERATORS, "ge", _raising)   # the engine compiles from this table
    path = tmp_path / "runtime.yaml"
    path.write_text(RUNTIME)
    return path


def test_rule_raising_at_evaluation_gives_error_findings_for_that_rule_only(runtime_file):
    ruleset = RuleSet([load_pack_file(runtime_file)])
    db = Resource(type="rds_instance", id="db1", account="1", region="r", name="db1",
                  attributes={"multi_az": True, "allocated_storage": 20})
    findings = ruleset.evaluate(Snapshot("1", "r", [db]), baseline="account")
    by_rule = {f.rule_id: f for f in findings}
    assert len(findings) == 2
    assert (by_rule["x.one"].status, by_rule["x.one"].message) == (
        "error", "cannot evaluate: ZeroDivisionError: division by zero")
    assert (by_rule["x.two"].status, by_rule["x.two"].resource["id"]) == ("pass", "db1")


def test_rules_test_reports_a_case_that_raises_as_failed(runtime_file, capsys):
    code, out, err = run(capsys, "rules", "test", str(runtime_file))
    assert "Traceback" not in out + err
    assert code == 1
    assert out.splitlines() == [
        "FAIL x.one: a: expected pass, got error (ZeroDivisionError: division by zero)",
        "FAIL x.one: b: expected fail, got error (ZeroDivisionError: division by zero)",
        "2 passed, 2 failed"]


def test_key_function_on_a_value_of_another_type_finds_no_value():
    """``length(multi_az)`` on a boolean: JMESPath raises a type error; the document has no such value."""
    pack = load_pack_text("{key: length(multi_az), op: ge, value: 1}")
    [cr] = RuleSet([pack]).rules
    [failure] = cr.failures({"multi_az": True})
    assert failure.actual == "length(multi_az) = null"
    assert cr.failures({"multi_az": "ab"}) == []
