"""The auditor's durable state: one SQLite file (standard library ``sqlite3``, WAL mode).

What it keeps between audits and across restarts:

- ``findings``: the lifecycle of every finding that has failed (key: account + region + rule id
  + resource id, :func:`key_of`): first seen, last seen, resolved, its status (``fail``,
  ``waived``, ``resolved``), when it was last re-announced, and the message that announced it
  (the outbox row, then where its channel delivered it and the reference it gave, for replies);
- ``snapshot``: per account and region, the normalized state of its last audit's resources
  (:func:`auditor.changes.snapshot_state`) and its time, to report what changed;
- ``outbox``: every notification, written before it is sent and marked sent only when its
  channel (``channel``: the name of a :mod:`auditor.notify` channel; ``destination``: where in
  it) confirms it, with the opaque reference the channel gave it (``delivered_to``,
  ``delivery_ref``); ``in_flight_since`` marks an attempt whose outcome is unknown (a timeout, a
  crash) so that the next attempt first checks whether the channel has it;
- ``notices``: one-time announcements (audit degraded / recovered, a waiver that expired), their
  keys naming the account and region they are about;
- ``meta``: this store's random id (it tags the messages it sends) and small facts the
  daemon keeps across restarts (:meth:`StateStore.remembered`), e.g. the labels of each target's
  last evaluated audit.

The schema is versioned (``schema_version``) and migrates forward: :data:`MIGRATIONS` is the list
of SQL steps, step *n* taking version *n-1* to *n*; opening a store applies the missing steps in
one transaction. A store written by a newer auditor is refused (:class:`StateError`).

Several targets (accounts x regions) share one store; every row belongs to one of them. Before
schema 3 a store held one target's rows without saying which: migration 3 gives them the account
and region of the stored snapshot (which names both; it was saved with those rows). Rows still
without a target (a store that had findings but no snapshot) have account ``""`` and are adopted
by the first audit recorded in the store (:meth:`StateStore.adopt`).

A damaged file (not a database, or failing ``PRAGMA integrity_check``) is never used nor deleted:
it is moved aside to ``<name>.corrupt-<UTC time>`` (with its ``-wal`` / ``-shm`` files) and a new
store is started; :attr:`StateStore.recovered_from` then names where the damaged file went and
:attr:`StateStore.warnings` says so in one line per problem (an empty file, which SQLite would
silently take as a new database, is also warned about). A path that is a folder or cannot be
opened raises :class:`StateError`.
"""
from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MEMORY = ":memory:"
CORRUPT_SUFFIX = ".corrupt-"   # <name>.corrupt-<UTC time>: a damaged state file moved aside
_DAMAGE = ("SQLITE_CORRUPT", "SQLITE_NOTADB")   # sqlite error names (and their extended codes) of a damaged file

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())   # no logging set up (the CLI): the caller shows .warnings itself

MIGRATIONS: tuple[str, ...] = (
    # 1: finding lifecycle, last snapshot, outbox
    """
    CREATE TABLE findings (
        key TEXT PRIMARY KEY,
        rule_id TEXT NOT NULL,
        resource_type TEXT NOT NULL,
        resource_id TEXT NOT NULL,
        resource_name TEXT,
        title TEXT NOT NULL,
        severity TEXT NOT NULL,
        status TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        resolved_at TEXT,
        announced_outbox_id INTEGER,
        announced_at TEXT,
        message_channel TEXT,
        message_ts TEXT,
        detail TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX findings_status ON findings (status);
    CREATE TABLE snapshot (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        state TEXT NOT NULL,
        taken_at TEXT NOT NULL
    );
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        channel TEXT NOT NULL,
        thread_ts TEXT,
        payload TEXT NOT NULL,
        created_at TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        last_error TEXT,
        sent_at TEXT,
        slack_channel TEXT,
        slack_ts TEXT
    );
    CREATE INDEX outbox_unsent ON outbox (sent_at, id);
    """,
    # 2: reminders, replies to queued messages, in-doubt attempts, one-time notices, store id
    """
    ALTER TABLE findings ADD COLUMN last_reminded_at TEXT;
    ALTER TABLE outbox ADD COLUMN parent_id INTEGER REFERENCES outbox (id);
    ALTER TABLE outbox ADD COLUMN in_flight_since TEXT;
    CREATE TABLE notices (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '{}',
        at TEXT NOT NULL
    );
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    # 3: rows keyed by account and region; the single target's rows until now take the account and
    # region of its stored snapshot ("" when there is none: StateStore.adopt)
    """
    CREATE TABLE snapshots (
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        state TEXT NOT NULL,
        taken_at TEXT NOT NULL,
        PRIMARY KEY (account, region)
    );
    INSERT INTO snapshots (account, region, state, taken_at)
        SELECT CASE WHEN json_valid(state) THEN COALESCE(CAST(json_extract(state, '$.account') AS TEXT), '') ELSE '' END,
               CASE WHEN json_valid(state) THEN COALESCE(CAST(json_extract(state, '$.region') AS TEXT), '') ELSE '' END,
               state, taken_at
        FROM snapshot;
    DROP TABLE snapshot;
    ALTER TABLE snapshots RENAME TO snapshot;
    CREATE TEMP TABLE legacy_target AS
        SELECT COALESCE((SELECT account FROM snapshot), '') AS account,
               COALESCE((SELECT region FROM snapshot), '') AS region;
    ALTER TABLE findings ADD COLUMN account TEXT NOT NULL DEFAULT '';
    ALTER TABLE findings ADD COLUMN region TEXT NOT NULL DEFAULT '';
    UPDATE findings SET account = (SELECT account FROM legacy_target), region = (SELECT region FROM legacy_target);
    UPDATE findings SET key = account || '|' || region || '|' || key;
    CREATE INDEX findings_target ON findings (account, region, status);
    UPDATE notices SET key = 'audit_health:' || (SELECT account || '|' || region FROM legacy_target)
        WHERE key = 'audit_health';
    UPDATE notices SET key = 'waiver_expired:' || (SELECT account || '|' || region FROM legacy_target) || '|'
        || substr(key, 16) WHERE substr(key, 1, 15) = 'waiver_expired:';
    DROP TABLE legacy_target;
    """,
    # 4: any notification channel: the outbox names its channel (every message so far went to
    # Slack) and keeps the channel's opaque reference of a delivered message
    """
    ALTER TABLE outbox RENAME COLUMN channel TO destination;
    ALTER TABLE outbox RENAME COLUMN thread_ts TO thread_ref;
    ALTER TABLE outbox RENAME COLUMN slack_channel TO delivered_to;
    ALTER TABLE outbox RENAME COLUMN slack_ts TO delivery_ref;
    ALTER TABLE outbox ADD COLUMN channel TEXT NOT NULL DEFAULT 'slack';
    CREATE INDEX outbox_channel_unsent ON outbox (channel, sent_at, id);
    ALTER TABLE findings RENAME COLUMN message_channel TO delivered_to;
    ALTER TABLE findings RENAME COLUMN message_ts TO delivery_ref;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


class StateError(Exception):
    """The state file cannot be used (written by a newer auditor, not a database...)."""


class _Damaged(Exception):
    """The state file is damaged (not a database, or fails its integrity check)."""


def _damaged(exc: BaseException) -> bool:
    name = getattr(exc, "sqlite_errorname", "") or ""
    return isinstance(exc, sqlite3.DatabaseError) and name.startswith(_DAMAGE)


def _sidecar(file: Path, suffix: str) -> Path:
    """SQLite's ``-wal`` / ``-shm`` file beside ``file``."""
    return file.with_name(file.name + suffix)


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """``2026-01-05T06:00:01Z``: UTC, whole seconds (fixed width, so strings sort as times)."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@dataclass(frozen=True)
class FindingRow:
    """One finding's lifecycle as stored (``status``: fail, waived or resolved)."""

    key: str
    rule_id: str
    resource_type: str
    resource_id: str
    resource_name: str | None
    title: str
    severity: str
    status: str
    first_seen: str
    last_seen: str
    resolved_at: str | None = None
    last_reminded_at: str | None = None
    announced_outbox_id: int | None = None
    announced_at: str | None = None
    delivered_to: str | None = None    # where the announcing message went, as its channel said
    delivery_ref: str | None = None    # the channel's reference of that message (e.g. for replies)
    detail: Mapping[str, Any] = field(default_factory=dict)   # the finding as reported (as_dict)
    account: str = ""
    region: str = ""

    @property
    def announced(self) -> bool:
        return self.announced_outbox_id is not None


@dataclass(frozen=True)
class OutboxRow:
    """One queued message of a channel (``channel``) to one of its destinations."""

    id: int
    kind: str
    channel: str
    destination: str
    payload: Mapping[str, Any]
    created_at: str
    attempts: int
    next_attempt_at: str
    parent_id: int | None = None
    thread_ref: str | None = None
    last_error: str | None = None
    in_flight_since: str | None = None
    sent_at: str | None = None
    delivered_to: str | None = None
    delivery_ref: str | None = None


_FINDING_COLUMNS = tuple(f.name for f in fields(FindingRow))   # the table's columns, in this order
_OUTBOX_COLUMNS = tuple(f.name for f in fields(OutboxRow))


def key_of(account: str, region: str, rule_id: str, resource_id: str) -> str:
    """A finding's key in the store: its target (account and region), rule and resource."""
    return f"{account}|{region}|{rule_id}|{resource_id}"


HEALTH_NOTICE = "audit_health:"      # + account|region: the audit health of one target
WAIVER_NOTICE = "waiver_expired:"    # + account|region|rule|resource|expiry: an expired waiver announced


class StateStore:
    """The SQLite state file; safe to share between threads (one connection behind a lock).

    Writes that belong together go through :meth:`transaction` (one ``BEGIN IMMEDIATE`` ...
    ``COMMIT``); single calls outside one commit at once.
    """

    def __init__(self, path: Path | str):
        self.path = str(path)
        self.recovered_from: Path | None = None   # where a damaged file was moved before starting anew
        self.recovery_reason: str | None = None   # what was wrong with it
        self.was_empty = False                    # the file existed with 0 bytes: started as a new store
        self.warnings: list[str] = []             # one line each, for the CLI or the daemon to show
        self._lock = threading.RLock()
        self._depth = 0
        if self.path != MEMORY:
            file = Path(self.path).expanduser()
            self._check_path(file)
            file.parent.mkdir(parents=True, exist_ok=True)
            if file.is_file() and file.stat().st_size == 0 and not _sidecar(file, "-wal").exists():
                self.was_empty = True
                self._warn(f"state file {file} was empty; started a new one",
                           event="state-empty", path=str(file))
        try:
            self._open()
        except _Damaged as damage:
            if self.path == MEMORY:
                raise StateError(f"{self.path}: {damage}") from damage
            self._set_aside(Path(self.path).expanduser(), str(damage))
            try:
                self._open()
            except _Damaged as again:
                raise StateError(f"{self.path}: cannot start a new state database: {again}") from again

    def _check_path(self, file: Path) -> None:
        if file.is_dir():
            raise StateError(f"{file}: is a folder, not a state file")
        if file.exists() and not file.is_file():
            raise StateError(f"{file}: not a regular file")
        if file.exists() and not os.access(file, os.R_OK | os.W_OK):
            raise StateError(f"{file}: cannot read and write the state file: permission denied")
        parent = next((p for p in [file.parent, *file.parent.parents] if p.exists()), None)
        if parent is not None and not parent.is_dir():
            raise StateError(f"{file}: {parent} is not a folder")

    def _open(self) -> None:
        """Connect, check the file's integrity, migrate; raises _Damaged for a damaged file."""
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10)
        except sqlite3.Error as exc:
            raise StateError(f"{self.path}: cannot open the state database: {exc}") from exc
        try:
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA busy_timeout = 10000")
            self.journal_mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            self._db.execute("PRAGMA synchronous = FULL")   # a confirmed send survives a power cut
            self._db.execute("PRAGMA foreign_keys = ON")
            problems = [line for r in self._db.execute("PRAGMA integrity_check(5)").fetchall()
                        for line in str(r[0]).splitlines()]   # one warning line, whatever SQLite says
            if problems != ["ok"]:
                raise _Damaged("integrity check failed: " + "; ".join(problems))
            self._migrate()
            self.store_id = self._store_id()
        except BaseException as exc:
            self._db.close()
            if isinstance(exc, _Damaged):
                raise
            if _damaged(exc):
                raise _Damaged(str(exc)) from exc
            if isinstance(exc, sqlite3.Error):
                raise StateError(f"{self.path}: cannot open the state database: {exc}") from exc
            raise

    def _set_aside(self, file: Path, reason: str) -> None:
        """Move a damaged file (and its WAL and shared-memory files) to ``<name>.corrupt-<UTC time>``."""
        stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
        target = file.with_name(f"{file.name}{CORRUPT_SUFFIX}{stamp}")
        n = 1
        while target.exists():
            target = file.with_name(f"{file.name}{CORRUPT_SUFFIX}{stamp}-{n}")
            n += 1
        try:
            file.rename(target)
            for suffix in ("-wal", "-shm"):
                if _sidecar(file, suffix).exists():
                    _sidecar(file, suffix).rename(_sidecar(target, suffix))
        except OSError as exc:
            raise StateError(f"{file}: the state database is damaged ({reason}) and cannot be moved "
                             f"aside: {exc.strerror or exc}") from exc
        self.recovered_from, self.recovery_reason, self.was_empty = target, reason, False
        self.warnings = [w for w in self.warnings if "was empty" not in w]
        self._warn(f"state file {file} was damaged ({reason}); moved to {target} and started a new one",
                   event="state-recovered", path=str(file), moved_to=str(target), reason=reason)

    def _warn(self, message: str, **extra: str) -> None:
        self.warnings.append(message)
        log.warning(message, extra=extra)

    # -- plumbing -------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[StateStore]:
        """All writes inside commit together, or none of them (nested calls join the outer one)."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self
                finally:
                    self._depth -= 1
                return
            self._db.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")
            finally:
                self._depth = 0

    def _execute(self, sql: str, params: tuple | Mapping = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, params)

    @property
    def schema_version(self) -> int:
        return self._version()

    def _version(self) -> int:
        exists = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").fetchone()
        if not exists:
            return 0
        row = self._db.execute("SELECT version FROM schema_version").fetchone()
        return int(row[0]) if row else 0

    def _migrate(self) -> None:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                version = self._version()
                if version > SCHEMA_VERSION:
                    raise StateError(f"{self.path}: state schema version {version} is newer than this "
                                     f"auditor knows ({SCHEMA_VERSION}); upgrade the auditor")
                if version == 0:
                    self._db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
                    self._db.execute("INSERT INTO schema_version VALUES (0)")
                for step in range(version, SCHEMA_VERSION):
                    for statement in _statements(MIGRATIONS[step]):
                        self._db.execute(statement)
                    self._db.execute("UPDATE schema_version SET version = ?", (step + 1,))
                self._db.execute("COMMIT")
            except BaseException as exc:
                if self._db.in_transaction:
                    try:
                        self._db.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass   # the error below says more
                if _damaged(exc):
                    raise _Damaged(str(exc)) from exc
                if isinstance(exc, sqlite3.DatabaseError):
                    raise StateError(f"{self.path}: cannot migrate the state database: {exc}") from exc
                raise

    def _store_id(self) -> str:
        with self.transaction():
            row = self._execute("SELECT value FROM meta WHERE key = 'store_id'").fetchone()
            if row:
                return str(row[0])
            value = uuid.uuid4().hex
            self._execute("INSERT INTO meta (key, value) VALUES ('store_id', ?)", (value,))
            return value

    def remembered(self, key: str) -> str | None:
        """A value kept with :meth:`remember`, or None."""
        row = self._execute("SELECT value FROM meta WHERE key = ?", (f"remember:{key}",)).fetchone()
        return str(row[0]) if row else None

    def remember(self, key: str, value: str) -> None:
        self._execute("INSERT INTO meta (key, value) VALUES (?, ?) "
                      "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (f"remember:{key}", value))

    def adopt(self, account: str, region: str) -> int:
        """Give the rows of no known account (stored before schema 3 without a snapshot, or by an
        audit that failed before it knew its account) whose region is ``region`` or unknown to
        this target; returns the findings adopted. Where the target has the same row already, its
        own wins."""
        if not account:
            return 0
        with self.transaction():
            cur = self._execute(
                "UPDATE OR IGNORE findings SET account = ?, region = ?, key = ? || '|' || ? || '|' || "
                "substr(key, length(region) + 3) WHERE account = '' AND region IN ('', ?)",
                (account, region, account, region, region))
            self._execute("DELETE FROM findings WHERE account = '' AND region IN ('', ?)", (region,))
            for kind in (HEALTH_NOTICE, WAIVER_NOTICE):
                for key in list(self.notices(kind + "|")):
                    rest = key[len(kind) + 1:]
                    old_region = rest.split("|", 1)[0]
                    if old_region not in ("", region):
                        continue
                    new = f"{kind}{account}|{region}{rest[len(old_region):]}"
                    self._execute("UPDATE OR IGNORE notices SET key = ? WHERE key = ?", (new, key))
                    self._execute("DELETE FROM notices WHERE key = ?", (key,))
            return cur.rowcount

    # -- snapshot -------------------------------------------------------------------------

    def previous_snapshot(self, account: str, region: str) -> tuple[dict[str, Any], str] | None:
        """The last saved snapshot state of the target and its time, or None before its first audit."""
        row = self._execute("SELECT state, taken_at FROM snapshot WHERE account = ? AND region = ?",
                            (account, region)).fetchone()
        return (json.loads(row["state"]), row["taken_at"]) if row else None

    def save_snapshot(self, account: str, region: str, state: Mapping[str, Any], at: datetime | str) -> None:
        taken = at if isinstance(at, str) else iso(at)
        self._execute("INSERT INTO snapshot (account, region, state, taken_at) VALUES (?, ?, ?, ?) "
                      "ON CONFLICT (account, region) DO UPDATE SET state = excluded.state, taken_at = excluded.taken_at",
                      (account, region, json.dumps(state, sort_keys=True, default=str), taken))

    # -- findings -------------------------------------------------------------------------

    def open_findings(self, account: str, region: str) -> dict[str, FindingRow]:
        """Every finding of the target not resolved (status fail or waived), by key."""
        rows = self._execute("SELECT * FROM findings WHERE account = ? AND region = ? AND status != 'resolved' "
                             "ORDER BY key", (account, region)).fetchall()
        return {r["key"]: _finding_row(r) for r in rows}

    def finding(self, key: str) -> FindingRow | None:
        row = self._execute("SELECT * FROM findings WHERE key = ?", (key,)).fetchone()
        return _finding_row(row) if row else None

    def put_finding(self, row: FindingRow) -> None:
        values = [getattr(row, c) for c in _FINDING_COLUMNS]
        values[_FINDING_COLUMNS.index("detail")] = json.dumps(dict(row.detail), sort_keys=True, default=str)
        placeholders = ", ".join("?" for _ in _FINDING_COLUMNS)
        updates = ", ".join(f"{c} = excluded.{c}" for c in _FINDING_COLUMNS[1:])
        self._execute(f"INSERT INTO findings ({', '.join(_FINDING_COLUMNS)}) VALUES ({placeholders}) "
                      f"ON CONFLICT (key) DO UPDATE SET {updates}", tuple(values))

    # -- outbox ---------------------------------------------------------------------------

    def enqueue(self, channel: str, kind: str, destination: str, payload: Mapping[str, Any], at: datetime,
                parent_id: int | None = None, thread_ref: str | None = None) -> int:
        """Queue one message of ``channel``; returns its id. Nothing is sent here."""
        cur = self._execute(
            "INSERT INTO outbox (channel, kind, destination, payload, created_at, next_attempt_at, parent_id, thread_ref) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (channel, kind, destination, json.dumps(payload, sort_keys=True), iso(at), iso(at), parent_id, thread_ref))
        return int(cur.lastrowid)

    def message(self, outbox_id: int) -> OutboxRow | None:
        row = self._execute("SELECT * FROM outbox WHERE id = ?", (outbox_id,)).fetchone()
        return _outbox_row(row) if row else None

    def unsent(self, channel: str) -> list[OutboxRow]:
        """The channel's messages not confirmed yet, oldest first."""
        rows = self._execute("SELECT * FROM outbox WHERE channel = ? AND sent_at IS NULL ORDER BY id",
                             (channel,)).fetchall()
        return [_outbox_row(r) for r in rows]

    def messages(self) -> list[OutboxRow]:
        return [_outbox_row(r) for r in self._execute("SELECT * FROM outbox ORDER BY id").fetchall()]

    def pending_count(self, channel: str) -> int:
        return int(self._execute("SELECT COUNT(*) FROM outbox WHERE channel = ? AND sent_at IS NULL",
                                 (channel,)).fetchone()[0])

    def mark_in_flight(self, outbox_id: int, at: datetime) -> None:
        """Before a send: count the attempt and remember it may arrive (committed first)."""
        self._execute("UPDATE outbox SET attempts = attempts + 1, in_flight_since = ? WHERE id = ?",
                      (iso(at), outbox_id))

    def mark_sent(self, outbox_id: int, delivered_to: str | None, ref: str | None, at: datetime) -> None:
        """The channel confirmed the message: record where it is, and point its findings at it."""
        with self.transaction():
            self._execute("UPDATE outbox SET sent_at = ?, delivered_to = ?, delivery_ref = ?, in_flight_since = NULL, "
                          "last_error = NULL WHERE id = ?", (iso(at), delivered_to, ref, outbox_id))
            self._execute("UPDATE findings SET delivered_to = ?, delivery_ref = ? WHERE announced_outbox_id = ?",
                          (delivered_to, ref, outbox_id))

    def mark_failed(self, outbox_id: int, error: str, next_attempt_at: datetime, in_doubt: bool) -> None:
        """The attempt failed; retry from ``next_attempt_at``. ``in_doubt``: the channel may have it
        (the next attempt checks before sending again, where the channel can tell)."""
        self._execute("UPDATE outbox SET last_error = ?, next_attempt_at = ?, "
                      "in_flight_since = CASE WHEN ? THEN in_flight_since ELSE NULL END WHERE id = ?",
                      (error[:500], iso(next_attempt_at), int(in_doubt), outbox_id))

    # -- one-time notices -----------------------------------------------------------------

    def notice(self, key: str) -> tuple[str, dict[str, Any], str] | None:
        """(value, detail, time) of a notice, or None."""
        row = self._execute("SELECT value, detail, at FROM notices WHERE key = ?", (key,)).fetchone()
        return (row["value"], json.loads(row["detail"]), row["at"]) if row else None

    def set_notice(self, key: str, value: str, at: datetime, detail: Mapping[str, Any] | None = None) -> None:
        self._execute("INSERT INTO notices (key, value, detail, at) VALUES (?, ?, ?, ?) "
                      "ON CONFLICT (key) DO UPDATE SET value = excluded.value, detail = excluded.detail, at = excluded.at",
                      (key, value, json.dumps(dict(detail or {}), sort_keys=True, default=str), iso(at)))

    def notices(self, prefix: str = "") -> dict[str, str]:
        """Notice key -> value of the notices whose key starts with ``prefix`` (literally)."""
        rows = self._execute("SELECT key, value FROM notices WHERE substr(key, 1, ?) = ? ORDER BY key",
                             (len(prefix), prefix)).fetchall()
        return {r["key"]: r["value"] for r in rows}


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _finding_row(row: sqlite3.Row) -> FindingRow:
    values = {c: row[c] for c in _FINDING_COLUMNS}
    values["detail"] = json.loads(values["detail"] or "{}")
    return FindingRow(**values)


def _outbox_row(row: sqlite3.Row) -> OutboxRow:
    values = {c: row[c] for c in _OUTBOX_COLUMNS}
    values["payload"] = json.loads(values["payload"])
    return OutboxRow(**values)
