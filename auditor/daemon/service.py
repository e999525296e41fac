"""``auditor serve``: wiring, signals and the main loop.

- start: validate config and rules (exit 2 when invalid), listen on the HTTP port, start the
  scheduler with the first audit due now;
- ``--shard I/N`` overrides ``targets.shard`` of the config, at start and on every reload;
- SIGHUP: reload the config file, the environment and the rules; if any is invalid, or reading
  them raises anything at all (an undecodable file, a RecursionError, a bug), keep the running
  ones, log the problems and count ``auditor_config_reloads_total{outcome="failure"}``;
  if valid, swap them in, reschedule, and audit again right away;
- SIGTERM / SIGINT: cancel the audit in flight, stop the scheduler, wait up to
  ``shutdown_grace_seconds`` (at most 9) for the audit to end, close the HTTP server, exit 0. An
  audit still stuck in an AWS call after the grace period is abandoned (the process exits
  without waiting for its threads).
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from ..audit import load_ruleset
from ..rules.engine import RuleSet
from ..rules.loader import RuleFileError
from .config import ConfigError, DaemonConfig, config_path, load_config
from .health import Readiness, check_readiness
from .http import HttpServer, make_app
from .logs import set_level, setup_logging
from .metrics import MetricsStore, make_registry
from .runner import AuditRunner, AwsFactory, TargetFactories, default_aws
from .scheduler import AuditScheduler, build_trigger, readiness_window

log = logging.getLogger("auditor.daemon")

EXIT_OK, EXIT_INVALID = 0, 2


class StartError(Exception):
    """The daemon cannot start (e.g. the HTTP port is taken)."""


def describe_error(exc: BaseException) -> dict[str, object]:
    """An unexpected exception from loading config or rules as log fields: ``problems`` (one line
    each), ``error`` (the exception's name) and ``file``/``line`` when the exception carries them.
    Never raises, whatever the exception holds."""
    try:
        return _describe(exc)
    except Exception:  # noqa: BLE001 - an exception with odd attributes or an unprintable message
        return {"error": type(exc).__name__, "problems": [type(exc).__name__]}


def _describe(exc: BaseException) -> dict[str, object]:
    problems = getattr(exc, "problems", None)
    if isinstance(exc, (ConfigError, RuleFileError)) and problems:
        return {"problems": list(problems)}
    fields: dict[str, object] = {"error": type(exc).__name__}
    file = getattr(exc, "filename", None) or getattr(exc, "path", None) or getattr(exc, "file", None)
    line = getattr(exc, "lineno", None) or getattr(exc, "line", None)
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)   # a YAML error
    if mark is not None:
        file = file or getattr(mark, "name", None)
        mark_line = getattr(mark, "line", None)
        line = line or (mark_line + 1 if isinstance(mark_line, int) else None)
    if isinstance(file, (str, os.PathLike)):
        fields["file"] = str(file)
    if isinstance(line, int) and not isinstance(line, bool):
        fields["line"] = line
    where = ":".join(str(fields[k]) for k in ("file", "line") if k in fields)
    message = str(exc).replace("\n", " ").strip()
    if len(message) > 500:
        message = message[:499] + "…"
    fields["problems"] = [f"{where + ': ' if where else ''}{type(exc).__name__}: {message}"]
    return fields


def load(path: Path | None, shard: str | None = None) -> tuple[DaemonConfig, RuleSet]:
    """Config (``shard`` overriding ``targets.shard``) and compiled rules; raises ConfigError or RuleFileError."""
    config = load_config(path, shard)
    return config, load_ruleset(config.architecture, config.rules, config.params)


class Daemon:
    def __init__(self, config: DaemonConfig, ruleset: RuleSet, config_file: Path | None = None,
                 clock: Callable[[], float] = time.time, aws_factory: AwsFactory = default_aws,
                 shard: str | None = None, targets: TargetFactories | None = None):
        self.config_file = config_file
        self.shard = shard   # --shard: kept over reloads
        self._current = (config, ruleset)   # swapped whole on reload
        self._clock = clock
        self.store = MetricsStore()
        self.registry = make_registry(self.store)
        self.runner = AuditRunner(self.store, self.current, clock, aws_factory, targets=targets)
        self.scheduler = AuditScheduler(self.runner)
        self.http: HttpServer | None = None
        self._stop_requested = threading.Event()
        self._wake = threading.Event()
        self._reload_requested = False
        self._stopped = False

    @property
    def config(self) -> DaemonConfig:
        return self._current[0]

    def current(self) -> tuple[DaemonConfig, RuleSet]:
        return self._current

    def readiness(self) -> Readiness:
        now = self._clock()
        window = readiness_window(self.config.schedule, datetime.fromtimestamp(now, UTC))
        return check_readiness(self.store.state, now, window)

    def start(self) -> None:
        config, ruleset = self._current
        try:
            web = config.http.web()   # read by load_config already, unless the config was built in code
            self.http = HttpServer(make_app(self.registry, self.readiness, lambda: self.store.state),
                                   config.http.address, config.http.port, web).start()
        except ConfigError as exc:
            raise StartError(str(exc)) from exc
        except OSError as exc:
            raise StartError(f"cannot listen on {config.http.address}:{config.http.port}: "
                             f"{exc.strerror or exc}") from exc
        self.scheduler.start(config.schedule)
        log.info(f"auditor serve started: /metrics on {self.http.address}:{self.http.port}",
                 extra={"event": "start", "address": self.http.address, "port": self.http.port,
                        "tls": bool(web and web.tls), "basic_auth": bool(web and web.users),
                        "config_file": str(self.config_file) if self.config_file else None,
                        "config": config.summary(), "rules": len(ruleset.rules),
                        "next_run_time": self.scheduler.next_run_time()})

    def reload(self) -> bool:
        """Re-read config and rules; keep the running ones if the new ones are invalid.

        Never raises (short of BaseException): whatever reading the new config or rules raises
        is a failed reload, logged and counted, and the daemon goes on with the running ones.
        """
        previous = self._current
        try:
            config, ruleset = load(self.config_file, self.shard)
            if config.schedule != previous[0].schedule:
                build_trigger(config.schedule)   # raises before anything is swapped
        except Exception as exc:  # noqa: BLE001 - RecursionError, UnicodeDecodeError, jmespath, bugs...
            self._reload_failed(exc)
            return False
        old = previous[0]
        try:
            self._current = (config, ruleset)
            set_level(config.log_level)
            if config.schedule != old.schedule:
                self.scheduler.reschedule(config.schedule)
        except Exception as exc:  # noqa: BLE001 - put the running config back
            self._current = previous
            try:
                set_level(old.log_level)
                if config.schedule != old.schedule:
                    self.scheduler.reschedule(old.schedule)
            except Exception:  # noqa: BLE001, S110 - best effort; the failure is logged below
                pass
            self._reload_failed(exc)
            return False
        if config.http != old.http:
            log.warning("http settings change on restart only", extra={"event": "reload"})
        self.store.record_reload(True)
        try:
            self.scheduler.run_soon()
        except Exception as exc:  # noqa: BLE001 - the next scheduled audit uses the new rules anyway
            log.error(f"reload: cannot schedule an audit now: {type(exc).__name__}: {exc}",
                      extra={"event": "reload"})
        log.info("reloaded config and rules", extra={"event": "reload", "outcome": "success",
                                                     "config": config.summary(), "rules": len(ruleset.rules)})
        return True

    def _reload_failed(self, exc: BaseException) -> None:
        self.store.record_reload(False)
        expected = isinstance(exc, (ConfigError, RuleFileError))
        fields = describe_error(exc)
        log.error("reload failed: keeping the running config and rules"
                  + ("" if expected else f": {fields['problems'][0]}"),   # type: ignore[index]
                  exc_info=None if expected or isinstance(exc, RecursionError) else exc,
                  extra={"event": "reload", "outcome": "failure", **fields})

    def request_reload(self) -> None:
        self._reload_requested = True
        self._wake.set()

    def request_stop(self) -> None:
        self._stop_requested.set()
        self._wake.set()

    def stop(self) -> bool:
        """Cancel the audit in flight, stop scheduling and serving. False if the audit is still running."""
        if self._stopped:
            return True
        self._stopped = True
        self.runner.cancel.set()
        self.scheduler.shutdown()
        clean = self.runner.wait_idle(self.config.shutdown_grace_seconds)
        if clean:   # else the audit in flight may still hold the state file (SQLite survives the exit)
            self.runner.close()
        if self.http is not None:
            self.http.stop()
        return clean

    def install_signal_handlers(self) -> None:
        def on_stop(signum: int, _frame: FrameType | None) -> None:
            log.info(f"received {signal.Signals(signum).name}: stopping", extra={"event": "signal"})
            self.request_stop()

        def on_hup(_signum: int, _frame: FrameType | None) -> None:
            log.info("received SIGHUP: reloading config and rules", extra={"event": "signal"})
            self.request_reload()
        signal.signal(signal.SIGTERM, on_stop)
        signal.signal(signal.SIGINT, on_stop)
        signal.signal(signal.SIGHUP, on_hup)

    def run(self) -> bool:
        """Serve until SIGTERM/SIGINT. True when nothing was left running."""
        self.install_signal_handlers()
        self.start()
        while not self._stop_requested.is_set():
            self._wake.wait(1.0)
            self._wake.clear()
            if self._reload_requested:
                self._reload_requested = False
                self.reload()
        t0 = time.perf_counter()
        clean = self.stop()
        log.info("auditor serve stopped" + ("" if clean else ": abandoned the audit in flight"),
                 extra={"event": "stop", "clean": clean, "seconds": round(time.perf_counter() - t0, 3)})
        return clean


def main(config_option: Path | None = None, check: bool = False, shard: str | None = None) -> int:
    """Entry point of ``auditor serve``; returns the exit code (0 after SIGTERM, 2 when invalid)."""
    setup_logging(_bootstrap_level())
    path = config_path(config_option)
    try:
        config, ruleset = load(path, shard)
    except Exception as exc:  # noqa: BLE001 - whatever the files hold, exit 2 with a message
        log.error("invalid configuration or rules", extra={"event": "start", **describe_error(exc)})
        return EXIT_INVALID
    set_level(config.log_level)
    if check:
        log.info(f"configuration and rules valid: {len(ruleset.rules)} rules",
                 extra={"event": "check", "config": config.summary(), "rules": len(ruleset.rules)})
        return EXIT_OK
    daemon = Daemon(config, ruleset, path, shard=shard)
    try:
        clean = daemon.run()
    except StartError as exc:
        log.error(str(exc), extra={"event": "start"})
        daemon.stop()
        return EXIT_INVALID
    if not clean:
        # Worker threads stuck in an AWS call would hold the interpreter's exit; do not wait.
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os._exit(EXIT_OK)
    return EXIT_OK


def _bootstrap_level() -> str:
    """The log level before the config is read (AUDITOR_LOG_LEVEL if it is a valid one)."""
    level = os.environ.get("AUDITOR_LOG_LEVEL", "INFO").upper()
    return level if level in ("DEBUG", "INFO", "WARNING", "ERROR") else "INFO"
