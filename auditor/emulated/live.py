"""``auditor demo --serve``: the daemon (``auditor serve``) watching the emulated account.

moto's server runs in this process with the documented deployment built into it; the daemon
audits it on a short schedule and serves /metrics on 127.0.0.1. Slack messages are printed on
the terminal by :class:`TerminalSlack`, a local stand-in for the Slack Web API methods the
notifier calls, unless ``SLACK_BOT_TOKEN`` or ``SLACK_WEBHOOK_URL`` is set (then they are sent).
Every ``drift_every`` audits :class:`DriftCycle` applies the next documented drift (most severe
expected rule first) or reverts the one applied, between two audits.
"""
from __future__ import annotations

import json
import logging
import math
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qs, urlsplit

import requests
import yaml

from ..audit import AuditOptions
from ..daemon.config import ConfigError, DaemonConfig
from ..daemon.logs import set_level
from ..daemon.scheduler import AuditScheduler
from ..daemon.service import Daemon, StartError, load
from ..model import SEVERITIES
from ..notify.secrets import RedactSecrets
from ..package_data import package_path
from ..rules.engine import RuleSet
from ..rules.loader import RuleFileError
from . import drifts as drift_registry
from .architectures import ENVIRONMENTS
from .builder import Deployment
from .demo import REGION, deploy, moto_server

log = logging.getLogger("auditor.demo")

SEED = 42   # moto's ids come from a seeded generator: every rebuild gets the same ids
SLACK_CHANNEL = "#auditor-demo"
TOKEN_ENV = "DEMO_SLACK_BOT_TOKEN"   # the terminal stand-in's token (never a real one)
REAL_SLACK_ENV = ("SLACK_BOT_TOKEN", "SLACK_WEBHOOK_URL")
FAKE_AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}
EXIT_OK, EXIT_INVALID, EXIT_INTERRUPTED = 0, 2, 130


# ------------------------------------------------------------------------------ Slack on the terminal
class TerminalSlack:
    """Slack's Web API as far as the notifier uses it (``chat.postMessage``,
    ``conversations.history``, ``conversations.replies``) on a loopback port: each message is
    printed on ``out`` and kept, so that a look-up after an attempt in doubt finds it."""

    def __init__(self, out: TextIO | None = None):
        self.out = out or sys.stdout
        self.messages: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, name="terminal-slack", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/"

    def __enter__(self) -> TerminalSlack:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def call(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            if method == "chat.postMessage":
                return self._post(args)
            if method in ("conversations.history", "conversations.replies"):
                thread = args.get("ts") if method == "conversations.replies" else None
                oldest = float(args.get("oldest") or 0)
                found = [m for m in self.messages if m["channel"] == args.get("channel") and float(m["ts"]) >= oldest
                         and (m["thread_ts"] == thread or (thread is not None and m["ts"] == thread))]
                return {"ok": True, "messages": found, "has_more": False}
            return {"ok": False, "error": "unknown_method"}

    def _post(self, args: dict[str, Any]) -> dict[str, Any]:
        message = {"channel": args.get("channel") or "", "ts": f"{time.time() + len(self.messages) / 1e6:.6f}",
                   "thread_ts": args.get("thread_ts") or None, "text": args.get("text") or "",
                   "blocks": args.get("blocks") or [], "metadata": args.get("metadata")}
        self.messages.append(message)
        print(render(message), file=self.out, flush=True)
        return {"ok": True, "channel": message["channel"], "ts": message["ts"], "message": message}


def _handler(slack: TerminalSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            url = urlsplit(self.path)
            args = {k: v[-1] for k, v in parse_qs(url.query).items()}
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if "json" in (self.headers.get("Content-Type") or ""):
                args.update(json.loads(body or b"{}"))
            else:
                args.update({k: v[-1] for k, v in parse_qs(body.decode()).items()})
            answer = json.dumps(slack.call(url.path.rsplit("/", 1)[-1], args)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_GET = do_POST

        def log_message(self, *_args: Any) -> None:   # no access log on the terminal
            pass
    return Handler


_LINK = re.compile(r"<([^<>|]+)\|([^<>]+)>|<([^<>]+)>")


def _plain(mrkdwn: str) -> str:
    """Slack mrkdwn for a terminal: ``<url|label>`` as ``label (url)``, entities unescaped."""
    text = _LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})" if m.group(1) else m.group(3), mrkdwn)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _texts(block: dict[str, Any]) -> list[str]:
    items = [block.get("text"), *(block.get("fields") or [])] if block.get("type") in ("header", "section") \
        else list(block.get("elements") or []) if block.get("type") in ("context", "actions") else []
    out = []
    for item in items:
        text = item.get("text") if isinstance(item, dict) else None
        text = text.get("text") if isinstance(text, dict) else text   # a button's label
        if isinstance(text, str) and text.strip():
            out.append(text)
    return out


def render(message: dict[str, Any]) -> str:
    """A message as a box of plain lines: its blocks, else its text."""
    where = f"slack {message['channel']}" + (f", reply in thread {message['thread_ts']}" if message["thread_ts"] else "")
    texts = [t for block in message["blocks"] for t in _texts(block)] or [message["text"]]
    lines = [line for text in texts for line in _plain(text).splitlines()]
    return "\n".join([f"┌─ {where}", *(f"│ {line}" for line in lines), "└─"])


# ------------------------------------------------------------------------------ the drift cycle
def cycle_drifts(architecture: str, environment: str, ruleset: RuleSet, kept: Sequence[str] = ()) -> list[drift_registry.Drift]:
    """The drifts the cycle applies, most severe expected rule first (documented order within a
    severity): those of ``environment`` alone, not kept for good with ``--drift``."""
    severity = {cr.rule.id: SEVERITIES.index(cr.rule.severity) for cr in ruleset.rules}
    usable = [d for d in drift_registry.drifts_for(architecture)
              if d.name not in kept and d.environment in (None, environment) and set(d.environments) <= {environment}]
    return sorted(usable, key=lambda d: min((severity.get(r, len(SEVERITIES)) for r in d.expect), default=len(SEVERITIES)))


class DriftCycle:
    """Rebuilds the emulated account between audits: after every ``every`` audits (0: never) the
    next drift is applied, or the one applied is reverted. A rebuild starts from an empty account
    (moto reset, the same seed, so the same ids) and deploys the documented deployment with the
    kept drifts, plus the applied one, in ``region``."""

    def __init__(self, endpoint: str, architecture: str, environment: str, drifts: Sequence[drift_registry.Drift],
                 every: int, kept: Sequence[str] = (), region: str = REGION):
        self.endpoint, self.architecture, self.environment, self.region = endpoint, architecture, environment, region
        self.drifts, self.every, self.kept = list(drifts), every, list(kept)
        self.applied: drift_registry.Drift | None = None
        self.lock = threading.Lock()   # held while the account is rebuilt
        self._audits = 0
        self._next = 0
        self._created: dict[str, Any] = {}

    def deploy(self, drifts: Sequence[str] = ()) -> Deployment:
        for call in ("reset", f"seed?a={SEED}"):
            requests.post(f"{self.endpoint}/moto-api/{call}", timeout=30).raise_for_status()
        deployment = deploy(self.architecture, self.environment, self.endpoint, [*self.kept, *drifts],
                            region=self.region)
        self._keep_creation_times()
        return deployment

    def _keep_creation_times(self) -> None:
        """A rebuilt load balancer keeps the first one's creation time (moto's state, in this
        process), so that a rebuild does not read as a change of the account."""
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.elbv2.models import elbv2_backends

        for arn, lb in elbv2_backends[DEFAULT_ACCOUNT_ID][self.region].load_balancers.items():
            lb.created_time = self._created.setdefault(arn, lb.created_time)

    def after_audit(self, cancel: threading.Event) -> None:
        with self.lock:
            if cancel.is_set() or not self.every or not self.drifts:
                return
            self._audits += 1
            if self._audits % self.every:
                return
            try:
                if self.applied is None:
                    drift = self.drifts[self._next % len(self.drifts)]
                    self._next += 1
                    deployment = self.deploy([drift.name])
                    self.applied = drift
                    expected = ", ".join(f"rule {rule} to fail" + (f" on {deployment[key]}" if key else " (a missing resource)")
                                         for rule, key in drift.expect.items())
                    log.info(f"applied drift {drift.name}: expect {expected} ({drift.description}); "
                             f"reverted after {self.every} audits")
                else:
                    self.deploy()
                    log.info(f"reverted drift {self.applied.name}: the account is as documented again")
                    self.applied = None
            except Exception as exc:  # noqa: BLE001 - the daemon goes on; the next step rebuilds the account
                log.error(f"drift step failed: {type(exc).__name__}: {exc}")


class DemoDaemon(Daemon):
    """The daemon, whose scheduled job runs the drift cycle after each audit (never during one),
    and which shows ``banner(port)`` once it listens."""

    def __init__(self, config: DaemonConfig, ruleset: RuleSet, config_file: Path, cycle: DriftCycle,
                 banner: Callable[[int], str]):
        super().__init__(config, ruleset, config_file)
        self.cycle = cycle
        self._banner = banner
        self.scheduler = AuditScheduler(self._audit_then_drift)

    def _audit_then_drift(self) -> None:
        self.runner()
        self.cycle.after_audit(self.runner.cancel)

    def start(self) -> None:
        super().start()
        assert self.http is not None
        print(self._banner(self.http.port), flush=True)


# ------------------------------------------------------------------------------ wiring
class _TerminalFormat(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        level = f"{record.levelname} " if record.levelno >= logging.WARNING else ""
        return f"{self.formatTime(record, '%H:%M:%S')} {level}{super().format(record)}"


def _log_to_terminal(level: str) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_TerminalFormat())
    handler.addFilter(RedactSecrets())
    logging.getLogger().addHandler(handler)
    set_level(level)
    logging.getLogger("auditor.notify").setLevel(logging.WARNING)   # the messages themselves are shown
    # "skipped: maximum number of running instances reached" when --interval is shorter than an audit
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)


def settings(options: AuditOptions, interval: float, port: int, slack_url: str | None) -> dict[str, Any]:
    """The daemon's settings file: the demo's audit options, a short schedule, loopback HTTP, Slack
    through the terminal stand-in at ``slack_url`` (None: the real Slack, from the environment); the
    emulated region is ``options.region`` (default :data:`~auditor.emulated.demo.REGION`)."""
    def absolute(path: Path | None) -> str | None:
        return str(path.resolve()) if path else None
    slack: dict[str, Any] = {"enabled": True, "channels": {"default": SLACK_CHANNEL}}
    if slack_url:
        slack.update(token_env=TOKEN_ENV, base_url=slack_url)
    return {"architecture": options.architecture, "environment": options.environment,
            "environment_tag": options.environment_tag, "baseline": options.baseline, "region": options.region or REGION,
            "rules": [absolute(p) for p in options.rule_paths], "params": dict(options.params),
            "max_attempts": options.max_attempts, "waivers": absolute(options.waivers),
            "schedule": {"interval_seconds": interval}, "http": {"address": "127.0.0.1", "port": port},
            "cost": {"prices": absolute(options.prices), "alb_lcu": options.alb_lcu},
            "state": {"path": "state.sqlite3"}, "slack": slack}


def prometheus_config(port: int) -> str:
    return yaml.safe_dump({
        "global": {"scrape_interval": "5s", "evaluation_interval": "5s"},
        "rule_files": [str(package_path("monitoring", "auditor.rules.yml"))],
        "scrape_configs": [{"job_name": "auditor-demo", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}],
    }, sort_keys=False)


def banner(port: int, folder: Path, what: str, slack: str, cycle: DriftCycle, interval: float) -> str:
    """What to open and try; writes the Prometheus config it shows into ``folder``."""
    url = f"http://127.0.0.1:{port}"
    prometheus, scrape = folder / "prometheus.yml", prometheus_config(port)
    prometheus.write_text(scrape)
    if cycle.every and cycle.drifts:
        first = cycle.drifts[0]
        drifts = (f"after every {cycle.every} audits the next of {len(cycle.drifts)} documented drifts is applied, "
                  f"then reverted {cycle.every} audits later (first: {first.name}, on {', '.join(first.expect)})")
    else:
        drifts = "none (--drift-every 0, or no documented drift for this environment)"
    indent = "\n    "
    return f"""
auditor demo --serve: the daemon audits {what} every {interval:g} s (pid {os.getpid()})
  metrics   {url}/metrics    health {url}/healthz  {url}/readyz
  slack     {slack}
  drifts    {drifts}
  settings  {folder / 'auditor.yaml'} (edit, then kill -HUP {os.getpid()} to reload)

Try:
  curl -s {url}/metrics | grep -E '^auditor_(failing_finding|compliance_ratio)'
  curl -s {url}/readyz
Prometheus (scrape every 5 s, job name matching auditor.*, the auditor's alert rules), written to {prometheus}:
    {scrape.rstrip().replace(chr(10), indent)}
  prometheus --config.file={prometheus}    then open http://127.0.0.1:9090/alerts:
  AuditorCriticalDrift fires a minute after a critical drift is applied and resolves after the revert
  (high-severity drifts take 15 minutes: AuditorHighDrift's `for:`).
Grafana: add the Prometheus data source http://127.0.0.1:9090, then Dashboards > New > Import
  {package_path('monitoring', 'auditor.json')}  (provisioning files: {package_path('monitoring', 'provisioning')})
Ctrl-C stops it.
"""


def _problem(architecture: str, environment: str, drifts: Sequence[str], port: int, interval: float,
             drift_every: int) -> str | None:
    """What makes the options unusable, found before anything starts."""
    documented = ENVIRONMENTS.get(architecture, ())
    if not 0 <= port <= 65535:
        return f"--port: must be within 0-65535 (got {port})"
    if not 0 < interval < math.inf:
        return f"--interval: must be a number of seconds above 0 (got {interval:g})"
    if drift_every < 0:
        return f"--drift-every: must be at least 0 (got {drift_every})"
    if environment not in documented:
        return f"{architecture} documents the environments {', '.join(documented)}, not {environment!r}"
    try:
        for name in drifts:
            drift_registry.get(architecture, name)
    except KeyError as exc:
        return str(exc.args[0])
    return None


def _slack_line(real_slack: str | None, config: DaemonConfig) -> str:
    if real_slack is None:
        return f"printed here ({' or '.join(REAL_SLACK_ENV)} to send them to Slack)"
    if real_slack == "SLACK_BOT_TOKEN":
        return f"sent to Slack ({real_slack}), channel {config.slack.channels['default']} (AUDITOR_SLACK__CHANNELS__DEFAULT)"
    return f"sent to Slack ({real_slack})"


def serve(options: AuditOptions, environment: str, drifts: Sequence[str] = (), *, port: int = 9797,
          interval: float = 15.0, drift_every: int = 8) -> int:
    """Run the daemon against the emulated account until SIGINT/SIGTERM; the exit code."""
    architecture = options.architecture or ""
    if problem := _problem(architecture, environment, drifts, port, interval, drift_every):
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_INVALID
    real_slack = next((name for name in REAL_SLACK_ENV if os.environ.get(name, "").strip()), None)
    region = options.region or REGION
    os.environ.update(FAKE_AWS_ENV, AWS_DEFAULT_REGION=region)   # never real credentials: every AWS call goes to moto
    os.environ.pop("AWS_PROFILE", None)
    try:
        with ExitStack() as stack:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="auditor-demo-")))
            terminal = None if real_slack else stack.enter_context(TerminalSlack())
            if terminal is not None:
                os.environ[TOKEN_ENV] = "xoxb-auditor-demo-terminal"
            path = folder / "auditor.yaml"
            path.write_text(yaml.safe_dump(settings(options, interval, port, terminal and terminal.base_url),
                                           sort_keys=False))
            try:
                config, ruleset = load(path)
            except (ConfigError, RuleFileError) as exc:
                for problem in exc.problems:
                    print(f"error: {problem}", file=sys.stderr)
                return EXIT_INVALID
            _log_to_terminal(config.log_level)
            endpoint = stack.enter_context(moto_server())
            os.environ["AWS_ENDPOINT_URL"] = endpoint
            cycle = DriftCycle(endpoint, architecture, environment,
                               cycle_drifts(architecture, environment, ruleset, drifts), drift_every, drifts, region)
            cycle.deploy()
            what = f"an emulated {architecture} {environment} account in {region} (moto, {endpoint})" + \
                (f" with the drifts {', '.join(drifts)}" if drifts else "")
            slack = _slack_line(real_slack, config)
            daemon = DemoDaemon(config, ruleset, path, cycle, lambda p: banner(p, folder, what, slack, cycle, interval))
            try:
                daemon.run()
            except StartError as exc:
                print(f"error: {exc}", file=sys.stderr)
                daemon.stop()
                return EXIT_INVALID
            with cycle.lock:   # a rebuild in flight ends before moto stops
                pass
    except KeyboardInterrupt:   # before the daemon's own SIGINT handler is installed
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK
