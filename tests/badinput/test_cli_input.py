"""Usage and input errors of the CLI: exit 2, one ``error: ...`` line, no traceback, and no AWS call
(the arguments are checked before anything is collected)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import botocore.client
import pytest
from cli_runner import audit, run

from auditor import cli
from auditor.emulated.demo import deploy
from auditor.report import FORMATS

MATTILDA_PARAMS = "cache_node_type, cluster_name, db_instance_class, max_tasks, min_tasks, project"


@pytest.fixture
def aws_calls(monkeypatch):
    """Every AWS API call the test makes (none is answered: the endpoint is unreachable anyway)."""
    calls: list[str] = []

    def record(client, operation, params):
        calls.append(operation)
        raise AssertionError(f"AWS call {operation} before the arguments were checked")

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")   # never reached
    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", record)
    return calls


def _profiles(tmp_path: Path, monkeypatch) -> None:
    config = tmp_path / "aws-config"
    config.write_text("[default]\nregion = us-east-1\n\n[profile dev]\nregion = eu-west-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))


def _no_profiles(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))


def _cannot_write(tmp_path: Path, monkeypatch) -> None:
    """A folder without write permission (chmod does not stop root, so os.access says no)."""
    monkeypatch.setattr(cli.os, "access", lambda *_a, **_k: False)


# (arguments, with {tmp} for the test's folder; the exact error line; a setup step or None)
CASES = [
    (["audit", "--max-attempts", "0"], "error: --max-attempts: must be at least 1 (got 0)", None),
    (["audit", "--max-attempts", "-1"], "error: --max-attempts: must be at least 1 (got -1)", None),
    (["demo", "--max-attempts", "0"], "error: --max-attempts: must be at least 1 (got 0)", None),
    (["cost", "-a", "mattilda", "--max-attempts", "0"], "error: --max-attempts: must be at least 1 (got 0)", None),
    (["audit", "--max-attempts", "x"],
     "error: argument --max-attempts: invalid int value: 'x' (see 'auditor audit --help')", None),
    (["audit", "--profile", "nosuch"], "error: --profile nosuch: no such AWS profile (known: default, dev)",
     _profiles),
    (["audit", "--profile", "nosuch"],
     "error: --profile nosuch: no such AWS profile (no profile in the AWS config and credentials files)",
     _no_profiles),
    (["cost", "-a", "mattilda", "--profile", "nosuch"],
     "error: --profile nosuch: no such AWS profile (known: default, dev)", _profiles),
    (["prices", "refresh", "--region", "us-east-1", "--profile", "nosuch"],
     "error: --profile nosuch: no such AWS profile (known: default, dev)", _profiles),
    (["audit", "-a", "mattilda", "--output", "{tmp}/missing/report.json"],
     "error: --output {tmp}/missing/report.json: folder {tmp}/missing does not exist", None),
    (["audit", "-a", "mattilda", "--output", "{tmp}"], "error: --output {tmp}: is a folder, not a file", None),
    (["audit", "-a", "mattilda", "--output", "{tmp}/file.txt/report.json"],
     "error: --output {tmp}/file.txt/report.json: {tmp}/file.txt is not a folder", None),
    (["audit", "-a", "mattilda", "--output", "{tmp}/report.json"],
     "error: --output {tmp}/report.json: cannot write in folder {tmp}: permission denied", _cannot_write),
    (["cost", "-a", "mattilda", "--output", "{tmp}/missing/cost.json"],
     "error: --output {tmp}/missing/cost.json: folder {tmp}/missing does not exist", None),
    (["demo", "--output", "{tmp}/missing/report.json"],
     "error: --output {tmp}/missing/report.json: folder {tmp}/missing does not exist", None),
    (["audit", "-a", "mattilda", "--param", "nosuch=1"],
     f"error: --param nosuch: no such parameter; the selected packs define {MATTILDA_PARAMS}", None),
    (["audit", "--param", "nosuch=1"], "error: --param nosuch: no such parameter; the selected packs define none",
     None),
    (["demo", "-a", "mattilda", "--param", "nosuch=1"],
     f"error: --param nosuch: no such parameter; the selected packs define {MATTILDA_PARAMS}", None),
    (["cost", "-a", "mattilda", "--param", "nosuch=1"],
     f"error: --param nosuch: no such parameter; the selected packs define {MATTILDA_PARAMS}", None),
    (["audit", "-a", "mattilda", "--param", "=x"],
     "error: --param =x: the parameter name is empty (expected NAME=VALUE)", None),
    (["audit", "-a", "mattilda", "--param", "noequals"], "error: --param noequals: expected NAME=VALUE", None),
    (["audit", "-a", "mattilda", "--param", "min_tasks=[1"],
     "error: --param min_tasks=[1: the value is not valid YAML: expected ',' or ']', but got '<stream end>'", None),
    (["audit", "--alb-lcu", "-1000"], "error: --alb-lcu: must be a number of at least 0 (got -1000)", None),
    (["cost", "-a", "mattilda", "--alb-lcu", "-0.5"],
     "error: --alb-lcu: must be a number of at least 0 (got -0.5)", None),
    (["cost", "-a", "mattilda", "--emulated", "--alb-lcu", "nan"],
     "error: --alb-lcu: must be a number of at least 0 (got nan)", None),
    (["audit", "-a", "mattilda", "--state", "{tmp}"], "error: {tmp}: is a folder, not a state file", None),
    (["audit", "--format", "nosuch"],
     "error: argument --format/-f: invalid choice: 'nosuch' (choose from "
     + ", ".join(repr(f) for f in sorted(FORMATS)) + ") (see 'auditor audit --help')", None),
]


@pytest.mark.parametrize(("argv", "message", "setup"), CASES,
                         ids=[" ".join(c[0]).replace("{tmp}", "TMP") + (f" [{c[2].__name__}]" if c[2] else "")
                              for c in CASES])
def test_a_usage_error_exits_2_with_one_line_before_any_aws_call(argv, message, setup, aws_calls, capsys,
                                                                   tmp_path, monkeypatch):
    (tmp_path / "file.txt").write_text("not a folder")
    if setup:
        setup(tmp_path, monkeypatch)
    code, out, err = run(capsys, *[a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert "Traceback" not in out + err
    assert (code, out, err) == (2, "", message.replace("{tmp}", str(tmp_path)) + "\n")
    assert aws_calls == []
    assert not (tmp_path / "missing").exists()   # no folder created for --output


def test_help_and_version_still_exit_0(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("auditor ")
    assert cli.main(["audit", "--help"]) == 0
    assert "--max-attempts" in capsys.readouterr().out


def test_valid_arguments_still_audit(account, capsys, tmp_path):
    deploy("mattilda", "production", account)
    report = tmp_path / "report.json"
    code, out, err = audit(capsys, "--architecture", "mattilda", "--format", "json", "--param", "min_tasks=2",
                           "--alb-lcu", "0", "--output", str(report))
    assert code in (0, 1) and out == "" and "error" not in err
    assert json.loads(report.read_text())["findings"]


def test_a_report_that_cannot_be_written_at_the_end_exits_2_without_traceback(account, capsys):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    deploy("mattilda", "production", account)
    code, out, err = audit(capsys, "--architecture", "mattilda", "--format", "json", "--output", "/dev/full")
    assert "Traceback" not in out + err
    assert (code, out, err) == (2, "", "error: --output /dev/full: cannot write: No space left on device\n")


def test_aws_profile_variable_naming_no_profile_is_a_usage_error(aws_calls, capsys, tmp_path, monkeypatch):
    _profiles(tmp_path, monkeypatch)
    monkeypatch.setenv("AWS_PROFILE", "gone")
    code, out, err = run(capsys, "audit", "-a", "mattilda")
    assert (code, out, err) == (2, "", "error: AWS_PROFILE gone: no such AWS profile (known: default, dev)\n")
    assert aws_calls == []


@pytest.mark.e2e   # moto's server, started by demo
@pytest.mark.parametrize(("argv", "message"), [
    (["demo", "--drift", "nosuch"], "error: unknown drift 'nosuch' for mattilda (known: private-route-to-igw, "),
    (["demo", "--region", "ap-northeast-1"],
     "error: ap-northeast-1 has no availability zone ap-northeast-1b (its zones: ap-northeast-1a, ap-northeast-1c, "
     "ap-northeast-1d), where the spec places subnets"),
])
def test_a_demo_that_cannot_be_built_exits_2_with_one_line(argv, message, capsys):
    code, out, err = run(capsys, *argv, "--quiet")
    assert (code, out) == (2, "") and len(err.splitlines()) == 1 and err.startswith(message)
