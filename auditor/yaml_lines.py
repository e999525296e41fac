"""YAML files read with the line of every key, so errors can name file, line and field."""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml


class YamlFileError(Exception):
    """A YAML file that cannot be read or parsed; the message names the file and line."""


def read_yaml(path: Path) -> tuple[Any, dict[tuple, int]]:
    """The file's data (None when empty) and the line of every key path in it."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise YamlFileError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise YamlFileError(f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from exc
    lines: dict[tuple, int] = {}
    return (construct_with_lines(node, (), lines) if node is not None else None), lines


def construct_with_lines(node: yaml.Node, path: tuple, lines: dict[tuple, int]) -> Any:
    """Build plain Python data from a YAML node, recording the line of every path."""
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out = {}
        for key_node, value_node in node.value:
            key = construct_with_lines(key_node, (), {})
            lines[path + (key,)] = key_node.start_mark.line + 1
            out[key] = construct_with_lines(value_node, path + (key,), lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [construct_with_lines(v, path + (i,), lines) for i, v in enumerate(node.value)]
    return yaml.constructor.SafeConstructor().construct_object(node)


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
