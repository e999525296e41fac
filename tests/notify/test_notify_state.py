"""The state file: WAL, schema versions and forward migration, snapshot, outbox, notices."""
from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from auditor.state import MIGRATIONS, SCHEMA_VERSION, FindingRow, StateError, StateStore, iso

NOW = datetime(2026, 1, 5, 6, 0, 1, tzinfo=UTC)


def test_new_file_is_wal_at_the_latest_schema_with_a_stable_id(tmp_path):
    path = tmp_path / "sub" / "state.sqlite3"
    with StateStore(path) as store:
        assert store.journal_mode == "wal" and store.schema_version == SCHEMA_VERSION >= 2
        store_id = store.store_id
    with StateStore(path) as again:
        assert again.store_id == store_id and again.schema_version == SCHEMA_VERSION
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_version_1_file_migrates_forward_keeping_its_rows(tmp_path):
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)   # what the first release wrote: schema 1 only
    db.executescript(MIGRATIONS[0])
    db.executescript("CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (1);")
    db.execute("INSERT INTO findings (key, rule_id, resource_type, resource_id, resource_name, title, severity, status, "
               "first_seen, last_seen, announced_outbox_id, announced_at, message_channel, message_ts) VALUES "
               "('r|db', 'r', 'rds_instance', 'db', 'db', 'Title', 'high', 'fail', '2025-12-01T00:00:00Z', "
               "'2025-12-02T00:00:00Z', 1, '2025-12-01T00:00:00Z', 'C1', '1.000001')")
    db.execute("INSERT INTO outbox (kind, channel, payload, created_at, next_attempt_at) VALUES "
               "('alert', 'C1', '{\"text\": \"queued before the upgrade\"}', '2025-12-01T00:00:00Z', '2025-12-01T00:00:00Z')")
    db.commit()
    db.close()

    with StateStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        row = store.open_findings()["r|db"]
        assert (row.status, row.message_ts, row.last_reminded_at) == ("fail", "1.000001", None)
        [queued] = store.unsent()
        assert queued.payload == {"text": "queued before the upgrade"} and queued.in_flight_since is None
        assert queued.parent_id is None
        store.set_notice("audit_health", "ok", NOW)          # tables of version 2 exist
        assert store.notice("audit_health")[0] == "ok"


def test_a_file_from_a_newer_auditor_is_refused(tmp_path):
    path = tmp_path / "new.sqlite3"
    StateStore(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    db.commit()
    db.close()
    with pytest.raises(StateError, match="newer than this auditor knows"):
        StateStore(path)
    assert list(tmp_path.glob("new.sqlite3.corrupt-*")) == []   # refused, not moved aside as damaged


def test_not_a_database_is_set_aside_and_replaced(tmp_path):
    path = tmp_path / "junk.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with StateStore(path) as store:
        assert store.recovered_from is not None and store.recovered_from.read_bytes() == b"this is not sqlite" * 100


def test_snapshot_round_trip(tmp_path):
    with StateStore(tmp_path / "s.sqlite3") as store:
        assert store.previous_snapshot() is None
        state = {"collected_types": ["vpc", "rds_instance"],
                 "resources": {"vpc/v1": {"type": "vpc", "id": "v1"}, "rds_instance/db": {"type": "rds_instance", "id": "db"}}}
        store.save_snapshot(state, NOW)
        assert store.previous_snapshot() == (state, "2026-01-05T06:00:01Z")
    # (what is saved when a collector failed: auditor.changes.carry_forward, tests/test_changes.py)


def test_outbox_lifecycle_and_transactions(tmp_path):
    with StateStore(tmp_path / "o.sqlite3") as store:
        first = store.enqueue("alert", "C1", {"text": "a"}, NOW)
        store.put_finding(FindingRow("k", "r", "t", "i", None, "T", "high", "fail", iso(NOW), iso(NOW),
                                     announced_outbox_id=first, announced_at=iso(NOW)))
        assert store.pending_count() == 1
        store.mark_in_flight(first, NOW)
        store.mark_failed(first, "timeout", NOW + timedelta(minutes=1), in_doubt=True)
        row = store.message(first)
        assert (row.attempts, row.in_flight_since, row.last_error) == (1, iso(NOW), "timeout")
        store.mark_sent(first, "C0ID", "1.5", NOW)
        assert store.pending_count() == 0
        assert (store.finding("k").message_channel, store.finding("k").message_ts) == ("C0ID", "1.5")

        with pytest.raises(RuntimeError), store.transaction():
            store.enqueue("alert", "C1", {"text": "b"}, NOW)
            raise RuntimeError("crash before commit")
        assert [m.id for m in store.messages()] == [first]   # rolled back: nothing half-written
