"""A damaged, empty or unusable state file: moved aside and started anew (never used, never
deleted), with a warning; the audit still reports. A folder or an unreadable file is an error."""
from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cli_runner import audit

from auditor import state as state_module
from auditor.emulated.demo import deploy
from auditor.state import SCHEMA_VERSION, StateError, StateStore

GARBAGE = b"this is not a database\n" * 400
NOW = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)


def _aside(path: Path) -> list[Path]:
    return sorted(path.parent.glob(path.name + ".corrupt-*"))


def _filled_store(path: Path) -> None:
    with StateStore(path) as store:
        store.save_snapshot("123456789012", "us-east-1", {"resources": ["x" * 200] * 200}, NOW)
        for i in range(100):
            store.set_notice(f"notice-{i}", "v" * 300, NOW, {"n": i})


def _zero_a_middle_page(path: Path) -> None:
    page_size = sqlite3.connect(path).execute("PRAGMA page_size").fetchone()[0]
    pages = path.stat().st_size // page_size
    assert pages > 4
    with path.open("r+b") as f:
        f.seek(page_size * (pages // 2))
        f.write(b"\0" * page_size)


# -- the store ----------------------------------------------------------------------------------

def test_a_healthy_store_opens_without_warning_and_keeps_its_data(tmp_path):
    path = tmp_path / "state.sqlite3"
    _filled_store(path)
    with StateStore(path) as store:
        assert store.recovered_from is None and store.recovery_reason is None
        assert store.warnings == [] and not store.was_empty
        assert store.notice("notice-7") == ("v" * 300, {"n": 7}, "2026-12-04T08:00:00Z")
    assert _aside(path) == []


def test_garbage_is_moved_aside_and_a_new_store_started(tmp_path, caplog):
    path = tmp_path / "state.sqlite3"
    path.write_bytes(GARBAGE)
    with StateStore(path) as store:
        [aside] = _aside(path)
        assert store.recovered_from == aside
        assert store.recovery_reason == "file is not a database"
        assert store.warnings == [f"state file {path} was damaged (file is not a database); moved to {aside} "
                                  "and started a new one"]
        assert store.schema_version == SCHEMA_VERSION and store.previous_snapshot("123456789012", "us-east-1") is None
        store.save_snapshot("123456789012", "us-east-1", {"a": 1}, NOW)
    assert aside.read_bytes() == GARBAGE                 # kept, untouched
    assert aside.name.startswith("state.sqlite3.corrupt-20")
    assert any(r.levelname == "WARNING" and str(aside) in r.getMessage() for r in caplog.records)
    with StateStore(path) as store:                      # the new store is a healthy one
        assert store.warnings == [] and store.previous_snapshot("123456789012", "us-east-1") == ({"a": 1}, "2026-12-04T08:00:00Z")


def test_a_zeroed_page_fails_the_integrity_check_and_is_moved_aside(tmp_path):
    path = tmp_path / "state.sqlite3"
    _filled_store(path)
    _zero_a_middle_page(path)
    damaged = path.read_bytes()
    with StateStore(path) as store:
        [aside] = _aside(path)
        assert store.recovered_from == aside and store.recovery_reason
        assert store.notices() == {} and store.previous_snapshot("123456789012", "us-east-1") is None
        assert f"moved to {aside} and started a new one" in store.warnings[0]
    assert aside.read_bytes() == damaged


def test_two_recoveries_in_the_same_second_keep_both_files(tmp_path, monkeypatch):
    monkeypatch.setattr(state_module, "utcnow", lambda: NOW)
    path = tmp_path / "state.sqlite3"
    for _ in range(2):
        path.write_bytes(GARBAGE)
        StateStore(path).close()
    assert [p.name for p in _aside(path)] == ["state.sqlite3.corrupt-20261204T080000Z",
                                               "state.sqlite3.corrupt-20261204T080000Z-1"]


def test_the_wal_of_a_damaged_file_is_not_left_for_the_new_store(tmp_path):
    """SQLite may drop an invalid WAL when it closes the damaged file; what is left goes aside with it."""
    path = tmp_path / "state.sqlite3"
    path.write_bytes(GARBAGE)
    wal = tmp_path / "state.sqlite3-wal"
    wal.write_bytes(b"stale wal")
    with StateStore(path) as store:
        assert store.recovered_from is not None and store.schema_version == SCHEMA_VERSION
        assert not wal.exists() or b"stale wal" not in wal.read_bytes()


def test_an_empty_file_starts_a_new_store_with_a_warning(tmp_path):
    path = tmp_path / "state.sqlite3"
    path.write_bytes(b"")
    with StateStore(path) as store:
        assert store.was_empty and store.recovered_from is None
        assert store.warnings == [f"state file {path} was empty; started a new one"]
    with StateStore(path) as store:
        assert store.warnings == [] and not store.was_empty


def test_a_missing_file_is_a_new_store_without_warning(tmp_path):
    with StateStore(tmp_path / "sub" / "state.sqlite3") as store:
        assert store.warnings == [] and store.schema_version == SCHEMA_VERSION


def test_a_folder_or_an_unusable_file_is_an_error_and_is_left_alone(tmp_path, monkeypatch):
    with pytest.raises(StateError, match="is a folder, not a state file"):
        StateStore(tmp_path)
    path = tmp_path / "state.sqlite3"
    _filled_store(path)
    monkeypatch.setattr(state_module.os, "access", lambda *_a, **_k: False)   # root ignores chmod
    with pytest.raises(StateError, match="cannot read and write the state file: permission denied"):
        StateStore(path)
    assert _aside(path) == []


# -- through the CLI ----------------------------------------------------------------------------

def _audit_with_state(capsys, path: Path) -> tuple[int, dict, str]:
    """Exit code, JSON report, and the CLI's own ``warning:`` / ``error:`` lines of stderr (a log handler
    left on the root logger by another test may add log lines)."""
    code, out, err = audit(capsys, "--architecture", "mattilda", "--format", "json", "--state", str(path))
    assert "Traceback" not in out + err
    return code, json.loads(out), "".join(line + "\n" for line in err.splitlines()
                                          if line.startswith(("warning: ", "error: ")))


def test_audit_with_a_garbage_state_file_reports_and_warns(account, capsys, tmp_path):
    deploy("mattilda", "production", account, ["db-single-az"])
    path = tmp_path / "state.sqlite3"
    path.write_bytes(GARBAGE)
    code, report, err = _audit_with_state(capsys, path)
    [aside] = _aside(path)
    assert code == 1 and report["findings"]
    assert err == (f"warning: state file {path} was damaged (file is not a database); moved to {aside} "
                   "and started a new one\n")
    assert report["warnings"] == [err.removeprefix("warning: ").rstrip("\n")]   # the report names it too
    assert aside.read_bytes() == GARBAGE
    code, report, err = _audit_with_state(capsys, path)   # the new store works: no warning, changes reported
    assert code == 1 and err == "" and report["changes"]["changed"] == 0 and report["warnings"] == []


def test_audit_with_a_damaged_page_in_its_state_file_reports_and_warns(account, capsys, tmp_path):
    deploy("mattilda", "production", account)
    path = tmp_path / "state.sqlite3"
    code, _, err = _audit_with_state(capsys, path)
    assert err == ""
    _zero_a_middle_page(path)
    code, report, err = _audit_with_state(capsys, path)
    [aside] = _aside(path)
    assert report["findings"] and report.get("changes") is None   # the previous snapshot was lost with the file
    assert err.startswith(f"warning: state file {path} was damaged (") and \
        err.endswith(f"); moved to {aside} and started a new one\n")


def test_audit_with_an_empty_state_file_warns(account, capsys, tmp_path):
    deploy("mattilda", "production", account)
    path = tmp_path / "state.sqlite3"
    path.write_bytes(b"")
    _, report, err = _audit_with_state(capsys, path)
    assert report["findings"] and err == f"warning: state file {path} was empty; started a new one\n"
    assert report["warnings"] == [f"state file {path} was empty; started a new one"]


def test_audit_with_a_state_file_it_cannot_read_exits_2_before_collecting(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")   # never reached
    path = tmp_path / "state.sqlite3"
    StateStore(path).close()
    monkeypatch.setattr(state_module.os, "access", lambda *_a, **_k: False)
    code, out, err = audit(capsys, "--architecture", "mattilda", "--state", str(path))
    assert (code, out, err) == (2, "", f"error: {path}: cannot read and write the state file: permission denied\n")


def test_the_markdown_report_names_a_replaced_state_file(account, capsys, tmp_path):
    deploy("mattilda", "production", account)
    path = tmp_path / "state.sqlite3"
    path.write_bytes(GARBAGE)
    _code, out, _err = audit(capsys, "--architecture", "mattilda", "--format", "markdown", "--state", str(path))
    [aside] = _aside(path)
    assert f"## Warnings\n\n- state file {path} was damaged (file is not a database); moved to {aside} " \
           "and started a new one\n" in out


@pytest.mark.parametrize(("snapshot", "account"), [("{not json", ""), ('{"resources": {}}', ""),
                                                 ('{"account": 123456789012, "region": null}', "123456789012")])
def test_a_version_2_snapshot_that_names_no_target_leaves_its_rows_unknown(tmp_path, snapshot, account):
    path = tmp_path / "v2.sqlite3"
    db = sqlite3.connect(path)
    for step in state_module.MIGRATIONS[:2]:
        db.executescript(step)
    db.executescript("CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (2);")
    db.execute("INSERT INTO snapshot (id, state, taken_at) VALUES (1, ?, '2026-12-01T00:00:00Z')", (snapshot,))
    db.execute("INSERT INTO findings (key, rule_id, resource_type, resource_id, title, severity, status, first_seen, "
               "last_seen) VALUES ('r|db', 'r', 'rds_instance', 'db', 'T', 'high', 'fail', '2026-12-01T00:00:00Z', "
               "'2026-12-01T00:00:00Z')")
    db.commit()
    db.close()
    with StateStore(path) as store:   # migrated, never refused nor moved aside
        assert store.schema_version == SCHEMA_VERSION and store.warnings == [] and store.recovered_from is None
        assert list(store.open_findings(account, "")) == [f"{account}||r|db"]
        assert store.adopt("210987654321", "eu-west-1") == (0 if account else 1)   # no account: the first audit's
