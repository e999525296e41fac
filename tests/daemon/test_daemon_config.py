"""Settings: one YAML file, AUDITOR_* environment variables over it, errors that name the key."""
from __future__ import annotations

from pathlib import Path

import pytest

from auditor.daemon.config import ConfigError, load_config
from auditor.daemon.scheduler import build_trigger, parse_crontab

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "auditor.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "auditor.yaml"
    path.write_text(text)
    return path


def test_file_values_and_defaults(tmp_path):
    path = write(tmp_path, "architecture: mattilda\nregion: eu-west-1\nrules: [extra]\n"
                           "params: {project: mattilda-eu}\nschedule: {cron: '*/10 * * * *', jitter_seconds: 30}\n")
    config = load_config(path)
    assert config.architecture == "mattilda" and config.region == "eu-west-1"
    assert config.rules == (tmp_path / "extra",)          # relative to the config file
    assert config.params == {"project": "mattilda-eu"}
    assert config.schedule.cron == "*/10 * * * *" and config.schedule.interval_seconds is None
    assert config.schedule.jitter_seconds == 30
    assert (config.http.address, config.http.port) == ("0.0.0.0", 9797)
    assert config.metrics.max_finding_series == 500
    assert (config.max_attempts, config.log_level, config.environment_tag) == (5, "INFO", "Environment")
    options = config.audit_options()
    assert options.architecture == "mattilda" and options.params == {"project": "mattilda-eu"}


def test_no_file_defaults_to_a_15_minute_interval():
    config = load_config(None)
    assert config.architecture is None and config.schedule.interval_seconds == 900


def test_environment_overrides_the_file(tmp_path, monkeypatch):
    path = write(tmp_path, "architecture: mattilda\nschedule: {interval_seconds: 60, jitter_seconds: 5}\n"
                           "http: {port: 9000}\nlog_level: info\n")
    monkeypatch.setenv("AUDITOR_SCHEDULE__INTERVAL_SECONDS", "300")
    monkeypatch.setenv("AUDITOR_HTTP__PORT", "9100")
    monkeypatch.setenv("AUDITOR_ARCHITECTURE", "portfolio")
    monkeypatch.setenv("AUDITOR_LOG_LEVEL", "debug")
    monkeypatch.setenv("AUDITOR_PARAMS", '{"project": "x", "min_tasks": 2}')
    monkeypatch.setenv("AUDITOR_RULES", "/a.yaml, /b")
    config = load_config(path)
    assert config.architecture == "portfolio"
    assert config.schedule.interval_seconds == 300 and config.schedule.jitter_seconds == 5   # merged
    assert config.http.port == 9100 and config.log_level == "DEBUG"
    assert config.params == {"project": "x", "min_tasks": 2}
    assert config.rules == (Path("/a.yaml"), Path("/b"))


def test_one_pack_parameter_from_the_environment(monkeypatch):
    monkeypatch.setenv("AUDITOR_PARAMS__PROJECT", "mattilda-eu")
    assert load_config(None).params == {"project": "mattilda-eu"}


def test_invalid_values_name_the_key_file_and_line(tmp_path):
    path = write(tmp_path, "architecture: mattilda\nschedule:\n  interval_seconds: -5\nhttp:\n  prot: 80\n"
                           "max_attempts: lots\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    problems = exc.value.problems
    assert f"{path}:3: schedule.interval_seconds: Input should be greater than 0 (got -5)" in problems
    assert f"{path}:5: http.prot: unknown key" in problems
    assert any(p.startswith(f"{path}:6: max_attempts: Input should be a valid integer") for p in problems)
    assert len(problems) == 3


def test_unknown_top_level_key_and_architecture(tmp_path):
    path = write(tmp_path, "architecture: nope\nshedule: {interval_seconds: 60}\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    text = "\n".join(exc.value.problems)
    assert f"{path}:2: shedule: unknown key" in text
    assert f"{path}:1: architecture: Value error, unknown architecture 'nope'" in text


def test_environment_errors_name_the_variable(monkeypatch):
    monkeypatch.setenv("AUDITOR_HTTP__PORT", "70000")
    with pytest.raises(ConfigError) as exc:
        load_config(None)
    assert exc.value.problems[0].startswith("environment variable AUDITOR_HTTP__PORT: http.port: "
                                            "Input should be less than or equal to 65535")
    monkeypatch.delenv("AUDITOR_HTTP__PORT")
    monkeypatch.setenv("AUDITOR_ARCHITECUTRE", "mattilda")     # a typo is an error, not ignored
    with pytest.raises(ConfigError, match="environment variable AUDITOR_ARCHITECUTRE: unknown key 'architecutre'"):
        load_config(None)
    monkeypatch.delenv("AUDITOR_ARCHITECUTRE")
    monkeypatch.setenv("AUDITOR_PARAMS", "{project: x")
    with pytest.raises(ConfigError, match="environment variable AUDITOR_PARAMS: params: not valid JSON"):
        load_config(None)


def test_schedule_needs_one_of_interval_or_cron(tmp_path):
    with pytest.raises(ConfigError, match="schedule: Value error, set either interval_seconds or cron"):
        load_config(write(tmp_path, "schedule: {interval_seconds: 60, cron: '* * * * *'}\n"))
    with pytest.raises(ConfigError, match=r"schedule.cron: Value error, a crontab expression has 5 fields"):
        load_config(write(tmp_path, "schedule: {cron: '* * *'}\n"))
    with pytest.raises(ConfigError, match=r"schedule.timezone: Value error, unknown time zone 'Mars/Olympus'"):
        load_config(write(tmp_path, "schedule: {timezone: Mars/Olympus}\n"))


def test_unreadable_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match=r"config file .*missing.yaml: cannot read: No such file"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match=r"auditor.yaml:2: invalid YAML"):
        load_config(write(tmp_path, "a: 1\n b: [\n"))
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(write(tmp_path, "- a\n- b\n"))


def test_crontab_weekdays_keep_their_cron_meaning():
    # cron: 0 and 7 are Sunday, 1-5 Monday to Friday (APScheduler 3 alone would shift them by one)
    assert str(parse_crontab("0 6 * * 1-5").fields[4]) == "mon,tue,wed,thu,fri"
    assert str(parse_crontab("0 6 * * 0,6").fields[4]) == "sat,sun"
    assert str(parse_crontab("0 6 * * 5-7").fields[4]) == "fri,sat,sun"
    assert str(parse_crontab("0 6 * * sun").fields[4]) == "sun"
    assert str(parse_crontab("0 6 * * *").fields[4]) == "*"
    with pytest.raises(ValueError, match="runs backwards"):
        parse_crontab("0 6 * * 5-1")


def test_triggers_carry_the_jitter(tmp_path):
    config = load_config(write(tmp_path, "schedule: {cron: '0 * * * *', jitter_seconds: 20}\n"))
    assert build_trigger(config.schedule).jitter == 20
    assert build_trigger(config.schedule, jitter=False).jitter is None
    config = load_config(write(tmp_path, "schedule: {interval_seconds: 120}\n"))
    trigger = build_trigger(config.schedule)
    assert trigger.interval_length == 120 and trigger.jitter is None


def test_the_shipped_example_is_valid():
    config = load_config(EXAMPLE)
    assert config.architecture == "mattilda"


TARGETS = """\
targets:
  regions: [eu-west-1, us-east-1]
  accounts:
    - role_arn: arn:aws:iam::111111111111:role/auditor
      external_id: the-external-id
    - role_arn: arn:aws:iam::222222222222:role/auditor
  organization: {role_name: AuditorRole, exclude: ["333333333333"]}
  max_concurrent: 8
"""


def test_targets_from_the_file_the_environment_and_shard(tmp_path, monkeypatch):
    path = write(tmp_path, TARGETS)
    config = load_config(path)
    targets = config.targets
    assert targets.regions == ["eu-west-1", "us-east-1"] and targets.max_concurrent == 8 and targets.shard is None
    assert [a.account for a in targets.accounts] == ["111111111111", "222222222222"]
    assert targets.organization.role_name == "AuditorRole" and targets.organization.exclude == ["333333333333"]
    assert "the-external-id" not in str(config.summary())   # the start-up log line
    assert config.summary()["targets"]["accounts"][0]["external_id"] == "(set)"

    monkeypatch.setenv("AUDITOR_TARGETS__SHARD", "2/3")
    monkeypatch.setenv("AUDITOR_TARGETS__REGIONS", '["ap-southeast-2"]')
    config = load_config(path)
    assert config.targets.shard == "2/3" and config.targets.regions == ["ap-southeast-2"]
    assert len(config.targets.accounts) == 2                                       # merged with the file
    assert load_config(path, shard="3/3").targets.shard == "3/3"                   # --shard wins
    monkeypatch.delenv("AUDITOR_TARGETS__REGIONS")
    assert load_config(None).targets.shard == "2/3" and load_config(None).targets.accounts == []


def test_without_targets_one_target_as_before_unless_a_shard_is_given():
    assert load_config(None).targets is None
    assert load_config(None, shard="1/2").targets.shard == "1/2"


def test_invalid_targets_name_the_key_file_and_line_and_never_the_external_id(tmp_path, monkeypatch):
    path = write(tmp_path, "targets:\n  regions: [eu-west-1, mars]\n  accounts:\n"
                           "    - role_arn: arn:aws:iam::1234:role/x\n      external_id: '!'\n  shard: 4/3\n  colour: red\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    problems = exc.value.problems
    assert any(p.startswith(f"{path}:2: targets.regions: Value error, 'mars' is not a region name") for p in problems)
    assert any(p.startswith(f"{path}:4: targets.accounts[0].role_arn: Value error, not an IAM role ARN") for p in problems)
    assert any(p.startswith(f"{path}:5: targets.accounts[0].external_id: Value error") for p in problems)
    assert any(p.startswith(f"{path}:6: targets.shard: Value error, shard '4/3'") for p in problems)
    assert f"{path}:7: targets.colour: unknown key" in problems
    assert not any("'!'" in p for p in problems)
    with pytest.raises(ConfigError, match=r"^--shard: shard '0/2': I must be between 1 and N$"):
        load_config(None, shard="0/2")
    monkeypatch.setenv("AUDITOR_TARGETS__MAX_CONCURRENT", "0")
    with pytest.raises(ConfigError, match="environment variable AUDITOR_TARGETS__MAX_CONCURRENT: targets.max_concurrent"):
        load_config(None)


def test_serve_shard_option_is_checked_and_kept_over_reloads(tmp_path, monkeypatch, json_logs):
    from auditor import cli
    from auditor.daemon import service

    path = write(tmp_path, TARGETS + "  shard: 1/3\n")
    monkeypatch.setattr(service, "setup_logging", lambda *_a, **_k: None)
    assert cli.main(["serve", "--config", str(path), "--check", "--shard", "2/3"]) == service.EXIT_OK
    assert next(r for r in json_logs() if r.get("event") == "check")["config"]["targets"]["shard"] == "2/3"
    assert cli.main(["serve", "--config", str(path), "--check", "--shard", "4/3"]) == service.EXIT_INVALID
    assert next(r for r in json_logs() if r.get("event") == "start")["problems"] == [
        "--shard: shard '4/3': I must be between 1 and N"]

    daemon = service.Daemon(*service.load(path, "3/3"), path, shard="3/3")
    try:
        assert daemon.config.targets.shard == "3/3" and daemon.reload() and daemon.config.targets.shard == "3/3"
    finally:
        daemon.runner.close()
