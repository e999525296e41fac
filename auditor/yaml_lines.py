"""YAML files read with the line of every key, so errors can name file, line and field."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

MAX_DEPTH = 64   # nested mappings and lists; rule trees use a dozen


class YamlFileError(Exception):
    """A YAML file that cannot be read or parsed; the message names the file and line."""


class SafeLineLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """PyYAML's SafeLoader, on libyaml's parser where PyYAML has it (ten times faster);
    :func:`read_yaml` refuses aliases and deep nesting before composing."""


def _refuse_aliases_and_depth(text: str, loader: type[SafeLineLoader]) -> None:
    """Aliases (``*name``: a few hundred bytes of nested aliases expand into gigabytes) and nesting
    deeper than MAX_DEPTH are errors, each at its line."""
    depth = 0
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, yaml.AliasEvent):
            raise yaml.composer.ComposerError(None, None, f"aliases (*{event.anchor}) are not allowed: "
                                              "write the value out", event.start_mark)
        if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
        elif isinstance(event, yaml.NodeEvent):   # a scalar, or the start of a mapping or list
            if depth + 1 > MAX_DEPTH:
                raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels",
                                                  event.start_mark)
            depth += not isinstance(event, yaml.ScalarEvent)


def _worded(text: str, exc: yaml.YAMLError) -> yaml.YAMLError:
    """PyYAML's own parser's error for a syntax error libyaml found: it names the character and what
    was expected (a rare path, so its slowness does not matter)."""
    if isinstance(exc, yaml.composer.ComposerError):   # ours: aliases, depth
        return exc
    try:
        yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as worded:
        return worded
    except RecursionError:   # nested past Python's limit before the error: libyaml's words will do
        pass
    return exc


def read_text(path: Path) -> str:
    """The file as UTF-8 text, or YamlFileError naming the file and what is wrong."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise YamlFileError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise YamlFileError(f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})") \
            from exc
    if "\x00" in text:
        line = text[:text.index("\x00")].count("\n") + 1
        raise YamlFileError(f"{path}:{line}: not a text file (NUL byte)")
    return text


def read_yaml(path: Path, loader: type[SafeLineLoader] = SafeLineLoader,
              texts: dict[tuple, str] | None = None) -> tuple[Any, dict[tuple, int]]:
    """The file's data (None when empty) and the line of every key path in it; ``texts`` receives the
    source text of every value YAML read as other than a string (``on``, ``1.10``), by path."""
    text = read_text(path)
    try:
        _refuse_aliases_and_depth(text, loader)
        node = yaml.compose(text, Loader=loader)
    except yaml.YAMLError as exc:
        raise _invalid(path, _worded(text, exc)) from exc
    lines: dict[tuple, int] = {}
    try:
        return (construct_with_lines(node, (), lines, texts) if node is not None else None), lines
    except (yaml.YAMLError, ValueError, TypeError) as exc:   # e.g. an unhashable key, an impossible value
        raise _invalid(path, exc) from exc


def _invalid(path: Path, exc: Exception) -> YamlFileError:
    """``FILE:LINE: invalid YAML: problem`` (the line where the error has one)."""
    mark = getattr(exc, "problem_mark", None)
    where = f"{path}:{mark.line + 1}" if mark else str(path)
    return YamlFileError(f"{where}: invalid YAML: {getattr(exc, 'problem', None) or exc}")


def construct_with_lines(node: yaml.Node, path: tuple, lines: dict[tuple, int],
                         texts: dict[tuple, str] | None = None) -> Any:
    """Build plain Python data from a YAML node, recording the line of every path (and, in ``texts``,
    the source text of every scalar that is not read as a string)."""
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out = {}
        for key_node, value_node in node.value:
            key = construct_with_lines(key_node, (), {})
            lines[path + (key,)] = key_node.start_mark.line + 1
            out[key] = construct_with_lines(value_node, path + (key,), lines, texts)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [construct_with_lines(v, path + (i,), lines, texts) for i, v in enumerate(node.value)]
    value = yaml.constructor.SafeConstructor().construct_object(node)
    if texts is not None and not isinstance(value, str) and node.value:
        texts[path] = node.value
    return value


def line_for(loc: tuple, lines: dict[tuple, int]) -> int:
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return 1


def field_path(loc: Iterable) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def validation_problems(path: Path, exc: ValidationError, lines: dict[tuple, int],
                        messages: Mapping[tuple[str, int], str] | None = None, prefix: tuple = ()) -> list[str]:
    """One ``FILE:LINE: field: message`` per pydantic error; ``messages`` words some errors by (type, depth of
    the location); other messages are pydantic's, without its "Value error, " prefix and never the input."""
    out = []
    for err in exc.errors():
        loc = prefix + tuple(err["loc"])
        message = (messages or {}).get((err["type"], len(loc))) or err["msg"].removeprefix("Value error, ")
        field = field_path(loc)
        out.append(f"{path}:{line_for(loc, lines)}: {field + ': ' if field else ''}{message}")
    return out
