"""``auditor demo --rules PACK --deployment ARCH --params FILE``: a user pack tried against an emulated deployment."""
from __future__ import annotations

import json

import pytest

from auditor import cli

PACK = """
pack: mine
title: A team's own pack, in its own names
selector:
  - {key: tags.Project, op: eq, value: {param: project}}
params:
  project: {default: shop}
  api_service: {default: shop-api}
  db_identifier: {default: shop-db}
rules:
  - id: mine.api.two_tasks
    title: The api service runs two tasks
    severity: medium
    resource: ecs_service
    scope: [{key: name, op: eq, value: {param: api_service}}]
    assert: [{key: desired_count, op: ge, value: 2}]
    when_absent: fail
    doc: {file: shop.md, quote: "the api runs two tasks"}
    remediation: raise the desired count
    tests:
      - {name: two, expect: pass, resource: {name: shop-api, desired_count: 2}}
      - {name: one, expect: fail, resource: {name: shop-api, desired_count: 1}}
  - id: mine.db.reached_by_api
    title: The api service may reach the database
    severity: high
    resource: security_group
    scope: [{key: "used_by[].name", op: contains, value: {param: db_identifier}}]
    assert:
      - {key: "inbound[?from_port == `5432`].peers[]", op: contains, value: {param: api_service}}
    when_absent: fail
    doc: {file: shop.md, quote: "the api reads the database"}
    remediation: allow 5432 from the api service's group
    tests:
      - name: api
        expect: pass
        resource: {used_by: [{name: shop-db}], inbound: [{from_port: 5432, peers: [shop-api]}]}
      - {name: none, expect: fail, resource: {used_by: [{name: shop-db}], inbound: []}}
  - id: mine.db.cpu_alarm_ten_minutes
    title: The database's CPU alarm looks at ten minutes at least
    severity: low
    resource: rds_instance
    scope: [{key: id, op: eq, value: {param: db_identifier}}]
    assert:
      - {key: "alarms[?metric_name == 'CPUUtilization']", any: [{key: duration_seconds, op: ge, value: 600}]}
    when_absent: fail
    doc: {file: shop.md, quote: "alarm on CPU above 80% for 10 minutes"}
    remediation: set period x evaluation periods to 600 s or more
    tests:
      - {name: ten, expect: pass, resource: {id: shop-db, alarms: [{metric_name: CPUUtilization, duration_seconds: 600}]}}
      - {name: five, expect: fail, resource: {id: shop-db, alarms: [{metric_name: CPUUtilization, duration_seconds: 300}]}}
"""


def _files(tmp_path, names: str):
    (tmp_path / "my-pack.yaml").write_text(PACK)
    (tmp_path / "names.yaml").write_text(names)
    return str(tmp_path / "my-pack.yaml"), str(tmp_path / "names.yaml")


@pytest.mark.e2e   # moto's server, in this process
def test_a_user_pack_tried_against_an_emulated_deployment(tmp_path, capsys):
    pack, names = _files(tmp_path, "project: mattilda\napi_service: mattilda-api-service\n"
                                   "db_identifier: mattilda-db-staging\n")
    code = cli.main(["demo", "--quiet", "--rules", pack, "--deployment", "mattilda", "--params", names,
                     "--param", "db_identifier=mattilda-db-prod",   # the command line overrides the file
                     "-f", "json"])
    report = json.loads(capsys.readouterr().out)
    mine = {f["rule_id"]: f for f in report["findings"] if f["rule_id"].startswith("mine.")}
    assert {rule: (f["status"], f["resource"]["name"]) for rule, f in mine.items()} == {
        "mine.api.two_tasks": ("pass", "mattilda-api-service"),
        "mine.db.reached_by_api": ("pass", "mattilda-prod-rds-sg"),
        "mine.db.cpu_alarm_ten_minutes": ("pass", "mattilda-db-prod")}
    assert not any(f["rule_id"].startswith("mattilda.") for f in report["findings"])   # no -a: no architecture pack
    assert code == 0


def test_an_unknown_name_in_the_params_file_is_one_error_line(tmp_path, capsys):
    pack, names = _files(tmp_path, "project: mattilda\napi_servise: mattilda-api-service\n")
    code = cli.main(["demo", "--quiet", "--rules", pack, "--deployment", "mattilda", "--params", names])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err == (f"error: {names}:2: api_servise: no such parameter; the selected packs define "
                   "api_service, db_identifier, project\n")
