"""The state file: WAL, schema versions and forward migration, snapshot, outbox, notices."""
from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from auditor.state import MIGRATIONS, SCHEMA_VERSION, FindingRow, StateError, StateStore, iso

NOW = datetime(2026, 1, 5, 6, 0, 1, tzinfo=UTC)
ACCOUNT = "123456789012"


def test_new_file_is_wal_at_the_latest_schema_with_a_stable_id(tmp_path):
    path = tmp_path / "sub" / "state.sqlite3"
    with StateStore(path) as store:
        assert store.journal_mode == "wal" and store.schema_version == SCHEMA_VERSION >= 2
        store_id = store.store_id
    with StateStore(path) as again:
        assert again.store_id == store_id and again.schema_version == SCHEMA_VERSION
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _old_store(path, version: int) -> sqlite3.Connection:
    """A state file as an earlier release wrote it: schema ``version``, with one finding and one queued message."""
    db = sqlite3.connect(path)
    for step in MIGRATIONS[:version]:
        db.executescript(step)
    db.executescript(f"CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES ({version});")
    db.execute("INSERT INTO findings (key, rule_id, resource_type, resource_id, resource_name, title, severity, status, "
               "first_seen, last_seen, announced_outbox_id, announced_at, message_channel, message_ts) VALUES "
               "('r|db', 'r', 'rds_instance', 'db', 'db', 'Title', 'high', 'fail', '2025-12-01T00:00:00Z', "
               "'2025-12-02T00:00:00Z', 1, '2025-12-01T00:00:00Z', 'C1', '1.000001')")
    db.execute("INSERT INTO outbox (kind, channel, payload, created_at, next_attempt_at) VALUES "
               "('alert', 'C1', '{\"text\": \"queued before the upgrade\"}', '2025-12-01T00:00:00Z', '2025-12-01T00:00:00Z')")
    return db


def test_a_version_1_file_migrates_forward_keeping_its_rows(tmp_path):
    path = tmp_path / "old.sqlite3"
    db = _old_store(path, 1)   # what the first release wrote: schema 1 only, no snapshot yet
    db.commit()
    db.close()

    with StateStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        [row] = store.open_findings("", "").values()   # no snapshot: which target it is of is unknown
        assert (row.key, row.status, row.delivery_ref, row.last_reminded_at) == ("||r|db", "fail", "1.000001", None)
        [queued] = store.unsent("slack")
        assert queued.payload == {"text": "queued before the upgrade"} and queued.in_flight_since is None
        assert queued.parent_id is None
        store.set_notice("audit_health:|", "degraded", NOW)   # tables of version 2 exist

        assert store.adopt(ACCOUNT, "eu-west-1") == 1   # the first audit recorded takes them
        assert store.open_findings("", "") == {}
        [row] = store.open_findings(ACCOUNT, "eu-west-1").values()
        assert (row.key, row.account, row.region, row.delivery_ref) == (f"{ACCOUNT}|eu-west-1|r|db", ACCOUNT, "eu-west-1",
                                                                      "1.000001")
        assert store.notices("audit_health:") == {f"audit_health:{ACCOUNT}|eu-west-1": "degraded"}
        assert store.adopt("210987654321", "us-east-1") == 0   # once


def test_a_version_2_file_gives_its_rows_the_target_of_its_snapshot(tmp_path):
    path = tmp_path / "v2.sqlite3"
    db = _old_store(path, 2)
    state = json.dumps({"account": ACCOUNT, "region": "eu-west-1", "resources": {}})
    db.execute("INSERT INTO snapshot (id, state, taken_at) VALUES (1, ?, '2025-12-02T00:00:00Z')", (state,))
    db.execute("INSERT INTO notices (key, value, at) VALUES ('audit_health', 'degraded', '2025-12-02T00:00:00Z')")
    db.execute("INSERT INTO notices (key, value, at) VALUES ('waiver_expired:r|db|2025-12-01', 'announced', "
               "'2025-12-02T00:00:00Z')")
    db.commit()
    db.close()

    with StateStore(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        [row] = store.open_findings(ACCOUNT, "eu-west-1").values()
        assert (row.key, row.status, row.delivered_to) == (f"{ACCOUNT}|eu-west-1|r|db", "fail", "C1")
        assert store.previous_snapshot(ACCOUNT, "eu-west-1") == (json.loads(state), "2025-12-02T00:00:00Z")
        assert store.previous_snapshot(ACCOUNT, "us-east-1") is None and store.open_findings(ACCOUNT, "us-east-1") == {}
        assert store.notices() == {f"audit_health:{ACCOUNT}|eu-west-1": "degraded",
                                   f"waiver_expired:{ACCOUNT}|eu-west-1|r|db|2025-12-01": "announced"}
        assert store.adopt(ACCOUNT, "eu-west-1") == 0 and len(store.unsent("slack")) == 1


def test_a_version_3_file_keeps_its_slack_messages_and_references_under_the_slack_channel(tmp_path):
    path = tmp_path / "v3.sqlite3"
    db = _old_store(path, 3)
    db.execute("UPDATE outbox SET sent_at = '2025-12-01T00:00:05Z', slack_channel = 'C0ID', slack_ts = '1.000001'")
    db.execute("INSERT INTO outbox (kind, channel, payload, created_at, next_attempt_at, parent_id) VALUES "
               "('resolved', 'C1', '{}', '2025-12-02T00:00:00Z', '2025-12-02T00:00:00Z', 1)")
    db.commit()
    db.close()

    with StateStore(path) as store:
        sent, reply = store.messages()
        assert (sent.channel, sent.destination, sent.delivered_to, sent.delivery_ref) == ("slack", "C1", "C0ID", "1.000001")
        assert store.unsent("slack") == [reply] and reply.parent_id == sent.id and reply.channel == "slack"
        assert store.unsent("webhook") == [] and store.pending_count("webhook") == 0
        [row] = store.open_findings("", "").values()
        assert (row.announced_outbox_id, row.delivered_to, row.delivery_ref) == (1, "C1", "1.000001")


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


def test_snapshot_round_trip_one_per_account_and_region(tmp_path):
    with StateStore(tmp_path / "s.sqlite3") as store:
        assert store.previous_snapshot(ACCOUNT, "us-east-1") is None
        state = {"collected_types": ["vpc", "rds_instance"],
                 "resources": {"vpc/v1": {"type": "vpc", "id": "v1"}, "rds_instance/db": {"type": "rds_instance", "id": "db"}}}
        store.save_snapshot(ACCOUNT, "us-east-1", state, NOW)
        store.save_snapshot(ACCOUNT, "eu-west-1", {"resources": {}}, NOW + timedelta(hours=1))
        assert store.previous_snapshot(ACCOUNT, "us-east-1") == (state, "2026-01-05T06:00:01Z")
        assert store.previous_snapshot(ACCOUNT, "eu-west-1") == ({"resources": {}}, "2026-01-05T07:00:01Z")
        assert store.previous_snapshot("210987654321", "us-east-1") is None
    # (what is saved when a collector failed: auditor.changes.carry_forward, tests/test_changes.py)


def test_outbox_lifecycle_and_transactions(tmp_path):
    with StateStore(tmp_path / "o.sqlite3") as store:
        first = store.enqueue("slack", "alert", "C1", {"text": "a"}, NOW)
        store.put_finding(FindingRow("k", "r", "t", "i", None, "T", "high", "fail", iso(NOW), iso(NOW),
                                     announced_outbox_id=first, announced_at=iso(NOW), account=ACCOUNT, region="us-east-1"))
        assert store.pending_count("slack") == 1
        store.mark_in_flight(first, NOW)
        store.mark_failed(first, "timeout", NOW + timedelta(minutes=1), in_doubt=True)
        row = store.message(first)
        assert (row.attempts, row.in_flight_since, row.last_error) == (1, iso(NOW), "timeout")
        store.mark_sent(first, "C0ID", "1.5", NOW)
        assert store.pending_count("slack") == 0
        assert (store.finding("k").delivered_to, store.finding("k").delivery_ref) == ("C0ID", "1.5")

        with pytest.raises(RuntimeError), store.transaction():
            store.enqueue("slack", "alert", "C1", {"text": "b"}, NOW)
            raise RuntimeError("crash before commit")
        assert [m.id for m in store.messages()] == [first]   # rolled back: nothing half-written


def test_notices_match_a_prefix_literally(tmp_path):
    with StateStore(tmp_path / "n.sqlite3") as store:
        for key in ("waiver_expired:a|r|x", "waiverXexpired:a|r|x", "waiver_expired%:b", "audit_health:a|r"):
            store.set_notice(key, "announced", NOW)
        assert list(store.notices("waiver_expired:")) == ["waiver_expired:a|r|x"]   # "_" is no wildcard
        assert list(store.notices("waiver_expired%")) == ["waiver_expired%:b"]      # nor "%"
        assert len(store.notices()) == 4
