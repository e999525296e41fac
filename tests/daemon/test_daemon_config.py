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
