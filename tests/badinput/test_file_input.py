"""Every file the auditor reads, damaged the ways files get damaged: each is refused with exit 2
and one line naming the file and the line, never a traceback, never a hang.

Rule packs (``rules validate``), waivers (``waivers validate``), the daemon's settings
(``serve --check``) and price files (``prices show --prices``) share one input layer
(``auditor.yaml_lines``; price files are JSON, their lines found by the same reader)."""
from __future__ import annotations

import json

import pytest
from cli_runner import run

ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n" + \
    "".join(f"{chr(99 + i)}: &{chr(99 + i)} [" + ", ".join([f"*{chr(98 + i)}"] * 9) + "]\n" for i in range(8))
DEEP = "a: " + "[" * 200 + "]" * 200 + "\n"
DAMAGE = {   # name -> (bytes of the file, the message after "FILE:")
    "alias bomb": (ALIAS_BOMB.encode(), "2: invalid YAML: aliases (*a) are not allowed: write the value out"),
    "one alias": (b"x: &v 1\ny: *v\n", "2: invalid YAML: aliases (*v) are not allowed: write the value out"),
    "merge key": (b"base: &b {k: 1}\nother:\n  <<: *b\n", "3: invalid YAML: aliases (*b) are not allowed: write the value out"),
    "latin-1": ("title: caf\u00e9\n".encode("latin-1"), "1: not UTF-8 text (byte 0xe9 at offset 10)"),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "1: not UTF-8 text (byte 0x89 at offset 0)"),
    "NUL byte": (b"a: 1\nb: \x00\n", "2: not a text file (NUL byte)"),
    "too deep": (DEEP.encode(), "1: invalid YAML: nested deeper than 64 levels"),
    "unclosed flow": (b"a: [1, 2\nb: 3\n", "2: invalid YAML: expected ',' or ']', but got ':'"),
    "tab indent": (b"a:\n\tb: 1\n", "2: invalid YAML: found character '\\t' that cannot start any token"),
    "unhashable key": (b"? [a, b]\n: 1\n", "invalid YAML: unhashable"),
}
COMMANDS = {   # file kind -> (argv before the file, how the command prints the problem)
    "rules": (["rules", "validate"], "error: {path}:{message}"),
    "waivers": (["waivers", "validate"], "error: {path}:{message}"),
    "config": (["serve", "--check", "--config"], "config file {path}:{message}"),
}


def _problems(kind: str, out: str, err: str) -> str:
    if kind != "config":
        return err
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return "\n".join(p for e in events for p in e.get("problems", []))


@pytest.mark.parametrize("damage", DAMAGE)
@pytest.mark.parametrize("kind", COMMANDS)
def test_a_damaged_file_is_refused_naming_file_and_line(capsys, tmp_path, kind, damage):
    content, message = DAMAGE[damage]
    path = tmp_path / f"{kind}.yaml"
    path.write_bytes(content)
    argv, shape = COMMANDS[kind]
    code, out, err = run(capsys, *argv, str(path))
    assert code == 2
    assert "Traceback" not in out + err
    problems = _problems(kind, out, err)
    if damage == "unhashable key":   # PyYAML's own words; the file and the kind of problem are ours
        assert f"{path}" in problems and message in problems
    else:
        assert shape.format(path=path, message=message) in problems.splitlines()


@pytest.mark.parametrize("kind", COMMANDS)
def test_a_missing_file_is_refused(capsys, tmp_path, kind):
    argv, _ = COMMANDS[kind]
    code, out, err = run(capsys, *argv, str(tmp_path / "missing.yaml"))
    assert code == 2 and "Traceback" not in out + err
    assert "missing.yaml" in out + err


@pytest.mark.parametrize("content,message", [
    (b'{"format": \xff}', "1: not UTF-8 text (byte 0xff at offset 11)"),
    (b"[" * 100_000 + b"]" * 100_000, "1: not JSON: maximum recursion depth exceeded"),
    (b"", "1: not JSON: Expecting value (column 1)"),
    (b'{"format": 1,\n "regions": {"us-east-1": {"source": "x", "as_of": "y",\n  "prices": {"k": {"usd": 1}}}\n  ,}}',
     "4: not JSON: Expecting property name enclosed in double quotes (column 4)"),
    (b'{"format": 1,\n "regions": {"us-east-1": {"source": "x", "as_of": "y",\n  "prices": {"k": {"usd": 1}}}}}',
     "3: regions.us-east-1.prices.k.unit: required"),
    (b'{"format": 2,\n "regions": {"us-east-1": {"source": "x",\n  "prices": {"k": {"usd": "1", "unit": "h"}}}}}',
     "1: format: expected 1\n"
     "error: {path}:2: regions.us-east-1.as_of: required\n"
     "error: {path}:3: regions.us-east-1.prices.k.usd: expected a number >= 0"),
])
def test_a_damaged_price_file_is_refused(capsys, tmp_path, content, message):
    path = tmp_path / "prices.json"
    path.write_bytes(content)
    code, out, err = run(capsys, "prices", "show", "--region", "us-east-1", "--prices", str(path))
    assert (code, out) == (2, "") and "Traceback" not in err
    assert err.startswith(f"error: {path}:" + message.format(path=path))


@pytest.mark.parametrize("content,message", [
    ("caf\u00e9 {{ n }}\n".encode("latin-1"), "1: not UTF-8 text (byte 0xe9 at offset 3)"),
    (b"ok\n{{ n + }}\n", "2: unexpected 'end of print statement'"),
    (b"{{ n | nosuchfilter }}\n", "1: No filter named 'nosuchfilter'."),
])
def test_a_damaged_slack_template_is_refused_at_start(capsys, tmp_path, monkeypatch, content, message):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-planted-secret")
    (tmp_path / "slack").mkdir()
    template = tmp_path / "slack" / "finding.j2"
    template.write_bytes(content)
    config = tmp_path / "auditor.yaml"
    config.write_text("architecture: mattilda\nslack: {enabled: true, channels: {default: '#drift'}, templates_dir: slack}\n")
    code, out, err = run(capsys, "serve", "--check", "--config", str(config))
    assert code == 2 and "Traceback" not in out + err and "xoxb-planted-secret" not in out + err
    assert f"{config}: slack.templates_dir: {template}:{message}" in _problems("config", out, err).splitlines()
