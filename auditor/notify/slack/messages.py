"""Slack messages from a :class:`~auditor.notify.lifecycle.Plan`: text from Jinja2 templates
(``auditor/templates/slack/*.j2``, overridable with ``slack.templates_dir``), Block Kit built here.

One message per audit and channel that has news (new findings grouped by severity, reminders,
expired waivers, the change-drift section, an audit-health notice), and resolutions as thread
replies to the message that announced them (one reply per message; with an incoming webhook,
one "resolved" message of its own). Every value is escaped for Slack (``&``, ``<``, ``>``), and
every message stays within Slack's limits: at most 50 blocks, 3000 characters per section,
150 per header, 40000 for the text; what does not fit is summarised with a count.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import ChainableUndefined, ChoiceLoader, Environment, FileSystemLoader, TemplateError

from ...model import SEVERITIES, Finding, truncate
from ...package_data import package_path
from ...state import parse_iso
from ...yaml_lines import YamlFileError, read_text
from ..channel import AuditInfo, Outgoing, dashboard_link
from ..lifecycle import Plan, Resolution, finding_key, target_of

TEMPLATES = package_path("templates", "slack")
MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_HEADER = 150
MAX_TEXT = 40000
MAX_LISTED = 20          # reminders, expired waivers, resolutions listed in one section
MAX_CHANGES_LISTED = 15
SEVERITY_ICONS = {"critical": ":red_circle:", "high": ":large_orange_circle:", "medium": ":large_yellow_circle:",
                  "low": ":large_blue_circle:", "info": ":white_circle:"}


class Safe(str):
    """Text already escaped for Slack (or Slack syntax built here): not escaped again."""


def escape(value: Any) -> str:
    """Slack's escaping: the three characters it reads as control characters."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _finalize(value: Any) -> Any:
    if value is None:
        return ""
    return value if isinstance(value, Safe) else escape(value)


def _value(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def cut(text: Any, limit: int) -> str:
    """:func:`auditor.model.truncate`, still :class:`Safe` when ``text`` was."""
    out = truncate(text, limit)
    return Safe(out) if isinstance(text, Safe) else out


def _code(value: Any) -> Safe:
    text = escape(_value(value))
    if "\n" in text:
        return Safe("```" + text.replace("```", "ʼʼʼ") + "```")
    return Safe("`" + (text.replace("`", "ʼ") or " ") + "`")


def _quote(value: Any) -> Safe:
    return Safe("\n".join("> " + escape(line) for line in str(value).splitlines() or [""]))


def _link(url: Any, text: str) -> Safe:
    return Safe(f"<{escape(url)}|{escape(text).replace('|', '¦')}>")


def _when(value: Any) -> str:
    if not value:
        return "?"
    try:
        return parse_iso(str(value)).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return str(value)


def human_duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            n = seconds / size
            return f"{n:.0f} {unit}" if n >= 10 or n == int(n) else f"{n:.1f} {unit}"
    return f"{seconds:.0f} s"


class Templates:
    """The Jinja2 environments: the bundled ``templates/slack`` under an optional override folder."""

    def __init__(self, override: Path | None = None, now: Callable[[], datetime] | None = None):
        folders = [str(p) for p in (override, TEMPLATES) if p is not None]
        self._now = now
        self.env = self._environment(folders, _finalize)
        self.plain = self._environment(folders, lambda v: "" if v is None else v)

    def _environment(self, folders: list[str], finalize: Callable[[Any], Any]) -> Environment:
        env = Environment(loader=ChoiceLoader([FileSystemLoader(f) for f in folders]), autoescape=False,
                          undefined=ChainableUndefined, finalize=finalize, trim_blocks=False, lstrip_blocks=False,
                          keep_trailing_newline=False)
        env.filters.update(code=_code, quote=_quote, link=_link, value=_value, cut=cut, when=_when,
                           ago=self._ago, capitalize_first=lambda s: s[:1].upper() + s[1:])
        return env

    def _ago(self, value: Any, suffix: bool = True) -> str:
        if not value or self._now is None:
            return "?"
        text = human_duration((self._now() - parse_iso(str(value))).total_seconds())
        return f"{text} ago" if suffix else text

    def render(self, name: str, **context: Any) -> str:
        return self.env.get_template(name).render(**context).strip()

    def problems(self, folder: Path) -> list[str]:
        """What is wrong with the templates in ``folder`` (not UTF-8, syntax, unknown filters), one line each."""
        if not folder.is_dir():
            return [f"{folder}: not a folder"]
        out = []
        for file in sorted(folder.glob("*.j2")):
            try:
                self.env.compile(read_text(file), file.name, str(file))
            except YamlFileError as exc:
                out.append(str(exc))
            except TemplateError as exc:
                out.append(f"{file}:{getattr(exc, 'lineno', None) or 1}: {getattr(exc, 'message', None) or exc}")
        return out

    def render_plain(self, name: str, **context: Any) -> str:
        return self.plain.get_template(name).render(**context).strip()


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": cut(text, MAX_SECTION) or " "}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": cut(text, MAX_SECTION) or " "}]}


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": cut(text, MAX_HEADER) or " ", "emoji": True}}


def _bullets(lines: Sequence[str], hidden: int, more: Callable[[int], str], limit: int = MAX_SECTION) -> str:
    """Lines joined while they fit in one section, then one line counting the rest (the lines
    that did not fit plus ``hidden``, those left out before)."""
    out: list[str] = []
    size = 0
    left = hidden
    for i, line in enumerate(lines):
        line = cut(line, limit - 300)
        if out and size + len(line) + 1 > limit - 300:
            left += len(lines) - i
            break
        out.append(line)
        size += len(line) + 1
    if left:
        out.append(more(left))
    return "\n".join(out)


def _fit(render: Callable[[int], str], n: int, limit: int = MAX_SECTION) -> str:
    """``render(n)`` with the largest ``n`` (items listed) whose text fits in one section."""
    text = render(n)
    while len(text) > limit and n > 1:
        n = max(1, n * limit // len(text) - 1) if len(text) > 2 * limit else n - 1
        text = render(n)
    return text


class Composer:
    """Builds the :class:`Outgoing` messages of one plan."""

    def __init__(self, templates: Templates, dashboard_url: str | None = None, max_findings: int = 20):
        self.t = templates
        self.dashboard_url = dashboard_url
        self.max_findings = max_findings

    def dashboard(self, audit: AuditInfo) -> str | None:
        return dashboard_link(self.dashboard_url, audit)

    # -- the audit's message per channel ---------------------------------------------------

    def compose(self, p: Plan, audit: AuditInfo, channel_for: Callable[[str], str | None], default_channel: str,
                threads: bool, parents: Mapping[int, str] | None = None) -> list[Outgoing]:
        """Every message of the plan: one per channel with news, then the resolutions.
        ``parents``: outbox id -> channel of the announcing messages still known (for replies)."""
        per_channel: dict[str, dict[str, list]] = {}

        def bucket(channel: str) -> dict[str, list]:
            return per_channel.setdefault(channel, {"new": [], "reminders": [], "expired": [], "health": [],
                                                    "changes": []})
        for f in p.new:
            ch = channel_for(f.severity)
            if ch is not None:
                bucket(ch)["new"].append(f)
        for row, f in p.reminders:
            ch = channel_for(f.severity)
            if ch is not None:
                bucket(ch)["reminders"].append((row, f))
        for e in p.expired:
            ch = channel_for(e.finding.severity)
            if ch is not None:
                bucket(ch)["expired"].append(e)
        if p.health is not None:
            bucket(default_channel)["health"].append(p.health)
        if p.changes and (per_channel or p.changes_alone):
            # a section of the default channel's message (else of the first one)
            target = default_channel if default_channel in per_channel or not per_channel else next(iter(per_channel))
            bucket(target)["changes"].extend(p.changes)

        out = []
        for channel, items in per_channel.items():
            out.append(self._alert(channel, items, p, audit))
        out.extend(self.resolutions(p.resolved, audit, default_channel, threads, parents or {}))
        return out

    def _alert(self, channel: str, items: dict[str, list], p: Plan, audit: AuditInfo) -> Outgoing:
        new: list[Finding] = sorted(items["new"], key=lambda f: SEVERITIES.index(f.severity))
        health = items["health"][0] if items["health"] else None
        by_severity = {s: sum(1 for f in new if f.severity == s) for s in SEVERITIES}
        counts = {"new": len(new), "by_severity": {s: n for s, n in by_severity.items() if n},
                  "reminders": len(items["reminders"]), "expired": len(items["expired"]),
                  "changes": len(items["changes"]),
                  "degraded": int(bool(health and health.state == "degraded")),
                  "recovered": int(bool(health and health.state == "recovered"))}
        icon = (SEVERITY_ICONS[new[0].severity] if new else ":hourglass:" if items["expired"]
                else ":alarm_clock:" if items["reminders"] else ":warning:" if counts["degraded"]
                else ":white_check_mark:" if counts["recovered"] else ":arrows_counterclockwise:")
        dash = self.dashboard(audit)
        head = [_header(self.t.render_plain("header.j2", counts=counts, audit=audit, icon=icon)),
                _context(self.t.render("context.j2", audit=audit, dashboard_url=dash))]
        if health is not None:
            head.append(_section(self.t.render(f"{health.state}.j2", health=health)))

        tail = self._tail(items, p)
        listed = min(self.max_findings, len(new))
        while True:
            blocks = head + self._new_blocks(new, listed, dash) + tail
            if len(blocks) <= MAX_BLOCKS or listed == 0:
                break
            listed = max(0, listed - (len(blocks) - MAX_BLOCKS))
        blocks = blocks[:MAX_BLOCKS]
        text = cut(self.t.render("text.j2", counts=counts, audit=audit), MAX_TEXT)
        target = target_of(audit)
        keys = [finding_key(f, *target) for f in new] + [finding_key(e.finding, *target) for e in items["expired"]]
        return Outgoing("alert", channel, {"text": text, "blocks": blocks}, announces=keys)

    def _new_blocks(self, new: list[Finding], listed: int, dash: str | None) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = []
        shown = {id(f) for f in new[:listed]}
        for sev in SEVERITIES:
            group = [f for f in new if f.severity == sev]
            if not group:
                continue
            blocks.append(_section(self.t.render("heading.j2", kind="new", severity=sev, count=len(group),
                                                 severity_icon=SEVERITY_ICONS[sev])))
            visible = [f for f in group if id(f) in shown]
            for f in visible:
                blocks.append(_section(self.t.render("finding.j2", f=f.as_dict(), dashboard_url=dash)))
            if len(visible) < len(group):
                blocks.append(_context(self.t.render("more.j2", count=len(group) - len(visible),
                                                     what=f"{sev} findings")))
        return blocks

    def _tail(self, items: dict[str, list], p: Plan) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = []
        if items["reminders"]:
            rem = items["reminders"]
            blocks.append(_section(self.t.render("heading.j2", kind="reminder", severity="critical", count=len(rem),
                                                 severity_icon=SEVERITY_ICONS["critical"])))
            lines = [self.t.render("reminder.j2", f=f.as_dict(), row=row) for row, f in rem[:MAX_LISTED]]
            blocks.append(_section(_bullets(lines, len(rem) - len(lines), self._more("still-failing findings"))))
        if items["expired"]:
            exp = items["expired"]
            blocks.append(_section(self.t.render("heading.j2", kind="expired", severity="", count=len(exp),
                                                 severity_icon="")))
            lines = [self.t.render("waiver_expired.j2", f=e.finding.as_dict(), waiver=e.waiver) for e in exp[:MAX_LISTED]]
            blocks.append(_section(_bullets(lines, len(exp) - len(lines), self._more("expired waivers"))))
        if items["changes"]:
            from ...changes import counts as change_counts

            changes = items["changes"]
            blocks.append(_section(self.t.render("heading.j2", kind="changes", severity="", count=len(changes),
                                                 severity_icon="")))

            def render_changes(n: int) -> str:
                text = self.t.render("changes.j2", changes=changes, counts=change_counts(changes),
                                     compared_to=p.compared_to, shown=changes[:n])
                if len(changes) > n:
                    text += "\n" + self.t.render("more.j2", count=len(changes) - n, what="changed resources")
                return text
            blocks.append(_section(_fit(render_changes, min(len(changes), MAX_CHANGES_LISTED))))
        return blocks

    def _more(self, what: str) -> Callable[[int], str]:
        return lambda n: self.t.render("more.j2", count=n, what=what)

    # -- resolutions ------------------------------------------------------------------------

    def resolutions(self, resolved: Iterable[Resolution], audit: AuditInfo, default_channel: str,
                    threads: bool, parents: Mapping[int, str]) -> list[Outgoing]:
        """One thread reply per announcing message (bot token), or one message of its own."""
        resolved = list(resolved)
        if not resolved:
            return []
        if not threads:
            return [self._resolved(resolved, audit, default_channel, None, threaded=False)]
        groups: dict[int, list[Resolution]] = {}
        for r in resolved:
            groups.setdefault(int(r.row.announced_outbox_id or 0), []).append(r)
        out = []
        for parent_id, group in groups.items():
            channel = parents.get(parent_id)
            if channel is None:   # the announcing message is unknown: say it in the default channel
                out.append(self._resolved(group, audit, default_channel, None, threaded=False))
            else:
                out.append(self._resolved(group, audit, channel, parent_id, threaded=True))
        return out

    def _resolved(self, group: list[Resolution], audit: AuditInfo, channel: str, parent_id: int | None,
                  threaded: bool) -> Outgoing:
        items = [{"row": r.row, "reason": r.reason, "f": r.finding.as_dict() if r.finding else None} for r in group]

        def render(n: int) -> str:
            text = self.t.render("resolved.j2", items=items[:n], more=len(items) - n, threaded=threaded, audit=audit)
            if len(items) > n:
                text += "\n" + self.t.render("more.j2", count=len(items) - n, what="resolved findings")
            return text
        text = _fit(render, min(len(items), MAX_LISTED))
        blocks = [_section(text)]
        fallback = cut(text.split("\n", 1)[0], MAX_SECTION)
        return Outgoing("resolved", channel, {"text": fallback, "blocks": blocks}, parent_id=parent_id)

    # -- a notice of its own (an audit that could not run) ----------------------------------

    def notice(self, p: Plan, audit: AuditInfo, default_channel: str) -> list[Outgoing]:
        if p.health is None:
            return []
        message = self._alert(default_channel, {"new": [], "reminders": [], "expired": [], "health": [p.health],
                                                "changes": []}, p, audit)
        message.kind = "notice"
        return [message]

