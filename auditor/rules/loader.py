"""Load rule packs from YAML, validating each file and naming file, line, rule and field on error."""
from __future__ import annotations

import functools
import re
import types
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError

from ..attributes import IDENTITY, At, closest, did_you_mean, resolve, show, table
from ..package_data import package_path
from ..yaml_lines import YamlFileError, field_path, line_for, read_yaml
from .operators import OPERATORS, SYMBOLS, check_value
from .schema import Condition, Pack, Param, Rule, RuleTest, is_param, param_uses

PACKAGE_RULES = package_path("packs")


class RuleFileError(Exception):
    """One or more problems in rule files; ``problems`` holds one line each, ``packs`` the files
    that had none (their quotes can still be checked in the same run)."""

    def __init__(self, problems: list[str], packs: list[LoadedPack] | None = None):
        super().__init__("\n".join(problems))
        self.problems = problems
        self.packs = packs or []


@dataclass(frozen=True)
class LoadedPack:
    pack: Pack
    path: Path
    lines: dict = field(default_factory=dict, compare=False, repr=False)

    def where(self, *loc: Any) -> str:
        """``file:line`` of a location in this pack, e.g. ``where("rules", 3, "resource")``."""
        return f"{self.path}:{line_for(tuple(loc), self.lines)}"


def _rule_id(data: Any, loc: tuple) -> str | None:
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        try:
            rule_id = data["rules"][loc[1]].get("id")
        except (KeyError, IndexError, TypeError, AttributeError):
            return None
        return None if rule_id is None else str(rule_id)
    return None


@dataclass
class _File:
    """One rule file as read: its data, the line of each part, the source text of each value YAML did
    not read as a string (``on``, ``1.10``), and every problem found in it."""

    path: Path
    data: Any = None
    lines: dict = field(default_factory=dict)
    texts: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def where(self, loc: tuple) -> str:
        return f"{self.path}:{line_for(loc, self.lines)}"

    def add(self, loc: tuple, message: str) -> None:
        """``FILE:LINE: rule ID: field F: message`` for the part at ``loc``."""
        rule = _rule_id(self.data, loc)
        self.problems.append(f"{self.where(loc)}: {f'rule {rule}: ' if rule else ''}"
                             f"field {field_path(loc) or '(top level)'}: {message}")

    def raw_rules(self) -> list[tuple[int, dict]]:
        rules = self.data.get("rules") if isinstance(self.data, dict) else None
        return [(i, r) for i, r in enumerate(rules) if isinstance(r, dict)] if isinstance(rules, list) else []

    def by_line(self) -> list[str]:
        prefix = f"{self.path}:"
        return sorted(self.problems, key=lambda p: int(m[0]) if p.startswith(prefix) and
                      (m := re.match(r"\d+", p[len(prefix):])) else 0)


def load_pack_file(path: Path) -> LoadedPack:
    """Parse and validate one rule file; RuleFileError lists every problem in it, by line."""
    f, pack = _read(path)
    if pack is None or f.problems:
        raise RuleFileError(f.by_line())
    return LoadedPack(pack, path, f.lines)


def _read(path: Path) -> tuple[_File, Pack | None]:
    """Read and check one rule file: the schema (the top level and each rule on its own), the
    parameters and the values YAML did not read as written, then the attribute keys of whatever
    validated. The pack is complete only when no problem was found."""
    f = _File(path)
    try:
        f.data, f.lines = read_yaml(path, texts=f.texts)
    except YamlFileError as exc:
        f.problems.append(str(exc))
        return f, None
    if f.data is None:
        f.problems.append(f"{path}:1: empty rule file")
        return f, None
    pack = _validate(f)
    _raw_condition_problems(f)
    f.problems += _param_value_problems(pack, f) + _attribute_problems(pack, path, f.lines)
    return f, pack


def _read_unchanged(path: Path) -> tuple[_File, Pack | None]:
    """:func:`_read`, once per process for a file as last modified: the daemon's audits, each target of a
    fleet and every command load the same unchanged packs. The file record is a copy (problems are added
    to it across files)."""
    try:
        stat = path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
    except OSError:   # gone since it was listed: reading it says so
        return _read(path)
    f, pack = _read_stamped(path, *stamp)
    return replace(f, problems=list(f.problems)), pack


@functools.lru_cache(maxsize=64)
def _read_stamped(path: Path, mtime_ns: int, size: int) -> tuple[_File, Pack | None]:
    return _read(path)


def _validate(f: _File) -> Pack:
    """The pack's top level and each rule validated on their own, each error added to ``f``. A part
    that fails stands in with what validates of it (a rule: :func:`_stand_in`; a selector or params
    that fail alone: empty), so the later checks judge the rest and every other rule keeps its index."""
    data = f.data
    raw_rules = data.get("rules") if isinstance(data, dict) else None
    try:
        top = Pack.model_validate({**data, "rules": []} if isinstance(raw_rules, list) else data)
    except ValidationError as exc:
        _schema_problems(f, exc, ())
        top = Pack.model_construct(selector=_valid_or(list[Condition], data, "selector", []),
                                   params=_valid_or(dict[str, Param], data, "params", {}), rules=[])
    rules = []
    for i, raw in enumerate(raw_rules if isinstance(raw_rules, list) else []):
        try:
            rules.append(Rule.model_validate(raw))
        except ValidationError as exc:
            _schema_problems(f, exc, ("rules", i))
            rules.append(_stand_in(raw))
    return top.model_copy(update={"rules": rules})


_BLANK = Condition.model_construct(key=None, op=None, value=None, all=None, any=None, none=None, not_=None)


def _stand_in(raw: Any) -> Rule:
    """A rule that failed validation, as far as it validates: its id and resource type as written, each
    condition that validates alone (a blank one in place of the others, so each keeps its index) and each
    inline test's documents, so a misspelt key is reported beside a bad test name in the same run."""
    raw = raw if isinstance(raw, dict) else {}

    def condition(c: Any) -> Condition:
        try:
            return Condition.model_validate(c)
        except ValidationError:
            return _BLANK

    def test(t: Any) -> RuleTest:
        t = t if isinstance(t, dict) else {}
        documents = t.get("resources")
        return RuleTest.model_construct(
            name=str(t.get("name")), expect="pass", params=t["params"] if isinstance(t.get("params"), dict) else {},
            resource=t["resource"] if isinstance(t.get("resource"), dict) else None,
            resources=documents if isinstance(documents, list) and all(isinstance(d, dict) for d in documents) else None)

    def each(part: str) -> list[Any]:
        return raw[part] if isinstance(raw.get(part), list) else []

    return Rule.model_construct(
        id=str(raw.get("id")), resource=raw.get("resource") if isinstance(raw.get("resource"), str) else None,
        scope=[condition(c) for c in each("scope")], assert_=[condition(c) for c in each("assert")],
        tests=[test(t) for t in each("tests")])


def _valid_or(kind: Any, data: Any, name: str, default: Any) -> Any:
    """``data[name]`` validated as ``kind``, or ``default`` (its errors are the top level's)."""
    try:
        return TypeAdapter(kind).validate_python(data[name])
    except (ValidationError, KeyError, TypeError):
        return default


def _schema_problems(f: _File, exc: ValidationError, prefix: tuple) -> None:
    for err in exc.errors():
        loc = prefix + tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        f.add(loc, _with_hint(err, loc, f))


CONDITION_FIELDS = {"key", "op", "value", "all", "any", "none", "not"}
OPERATOR_ALIASES = {**{symbol: op for op, symbol in SYMBOLS.items()}, "equals": "eq", "not_equals": "ne",
                    "gte": "ge", "lte": "le", "neq": "ne", "match": "regex", "matches": "regex"}
"""Operator names from other languages, for "did you mean"."""
CONDITION_LISTS = {"selector", "scope", "assert", "all", "any", "none"}


def _with_hint(err: Any, loc: tuple, f: _File) -> str:
    """Pydantic's message for one error, worded or completed with how to fix the common mistakes."""
    kind, value, message = err["type"], err.get("input"), err["msg"].removeprefix("Value error, ")
    text = f.texts.get(loc)
    if kind == "literal_error" and loc[-1] == "op":
        name = f"'{value}'" if isinstance(value, str) else show(value)
        alias = OPERATOR_ALIASES.get(value) if isinstance(value, str) else None
        return f"unknown operator {name} (" + (f"did you mean '{alias}'?" if alias else
                                               _closest(value, OPERATORS, "known", listed_too=False)) + ")"
    if kind == "literal_error" and isinstance(value, str):
        return message + did_you_mean(value, re.findall(r"'([^']*)'", err["ctx"]["expected"]))
    if kind == "string_type" and text is not None:
        return f"{message} ({_quote_it(text, value)})"
    if kind == "operator_value":
        condition = _raw_at(f.data, loc[:-1])
        if isinstance(condition, dict) and "value" not in condition:
            return f"{message} (no value given" + (": add value: true or value: false)"
                                                    if condition.get("op") in ("exists", "empty") else ")")
        if text is not None and isinstance(condition, dict) and check_value(condition["op"], text) is None:
            return f"{message} ({_quote_it(text, value)})"
    if kind == "extra_forbidden":
        model = _model_at(loc)
        if model is Rule and loc[-1] in CONDITION_FIELDS:
            return f"{message} (conditions go in a list under scope or assert: - {{key: ..., op: ..., value: ...}})"
        names = [info.alias or n for n, info in model.model_fields.items()] if model else []
        return message + did_you_mean(loc[-1], names)
    if kind == "list_type" and isinstance(value, dict) and loc[-1] in CONDITION_LISTS:
        return f"{message} (a list of conditions: start each with '- ')"
    if kind == "string_pattern_mismatch" and loc[-1] in ("id", "pack"):
        return f"{message} (lowercase letters, digits, '_', '.' and '-', starting with a letter or digit)"
    return message


def _quote_it(text: str, value: Any) -> str:
    """How to keep YAML from reading ``text`` as ``value``, e.g. ``YAML reads on as the boolean true: quote it: 'on'``."""
    kind = "the boolean" if isinstance(value, bool) else "the number" if isinstance(value, (int, float)) else None
    what = f"{kind} {show(value)}" if kind else "null" if value is None else f"a {type(value).__name__}"
    return f"YAML reads {text} as {what}: quote it: '{text}'"


def _closest(name: Any, names: Iterable[str], listed: str, listed_too: bool = True) -> str:
    """``did you mean 'x'? known: a, b`` (``listed`` names the list; without ``listed_too``, only
    when no name is close) for a name not among ``names``."""
    names = sorted(names)
    close = closest(name, names)
    if close and not listed_too:
        return f"did you mean '{close}'?"
    return (f"did you mean '{close}'? " if close else "") + (f"{listed}: {', '.join(names)}" if names else f"none {listed}")


def _raw_at(data: Any, loc: tuple) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The model holding the last field of ``loc`` in a pack, e.g. Rule for ``("rules", 3, "title")``."""
    kind: Any = Pack
    for part in loc[:-1]:
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            fields = {info.alias or n: info.annotation for n, info in kind.model_fields.items()}
            if part not in fields:
                return None
            kind = fields[part]
        elif get_origin(kind) in (list, dict):
            kind = get_args(kind)[-1]
        else:
            return None
        if get_origin(kind) in (Union, types.UnionType):
            kind = next(a for a in get_args(kind) if a is not type(None))
    return kind if isinstance(kind, type) and issubclass(kind, BaseModel) else None


def _raw_conditions(conditions: Any, loc: tuple) -> Iterator[tuple[tuple, dict]]:
    """(location, condition) of every condition under ``conditions`` as written, valid or not."""
    for j, c in enumerate(conditions if isinstance(conditions, list) else []):
        yield from _raw_condition(c, (*loc, j))


def _raw_condition(c: Any, loc: tuple) -> Iterator[tuple[tuple, dict]]:
    if isinstance(c, dict):
        yield loc, c
        for name in ("all", "any", "none"):
            yield from _raw_conditions(c.get(name), (*loc, name))
        yield from _raw_condition(c.get("not"), (*loc, "not"))


VERSION_OPS = ("version_eq", "version_ge")


def _raw_condition_problems(f: _File) -> None:
    """From the conditions as written, whether or not their rule validated: every ``{param: NAME}``
    names a defined parameter and is the whole value (one inside a list is not replaced), and no
    version is a number YAML read otherwise than written (8.10)."""
    data = f.data if isinstance(f.data, dict) else {}
    params = data.get("params") if isinstance(data.get("params"), dict) else {}
    where = [(data.get("selector"), ("selector",))]
    where += [(r.get(part), ("rules", i, part)) for i, r in f.raw_rules() for part in ("scope", "assert")]
    for conditions, loc in where:
        for here, c in _raw_conditions(conditions, loc):
            value, at = c.get("value"), (*here, "value")
            if is_param(value) and str(value["param"]) not in params:
                f.add(at, f"undefined param '{value['param']}' ({_closest(value['param'], map(str, params), 'defined')})")
            elif isinstance(value, list) and any(is_param(v) for v in value):
                f.add(at, "a {param: NAME} inside a list is not replaced: make the whole list one parameter "
                          "(value: {param: NAME}, the parameter's value a list)")
            elif c.get("op") in VERSION_OPS and isinstance(value, (int, float)) and not isinstance(value, bool) \
                    and at in f.texts and f.texts[at] != str(value):
                f.add(at, f"op {c['op']}: {_quote_it(f.texts[at], value)}")


def _param_value_problems(pack: Pack, f: _File) -> list[str]:
    """Every value a parameter can take (its default, each environment's value, each inline test's
    override) checked against the operator of every condition that uses it."""
    uses = [(None, use) for use in param_uses(pack.selector, ("selector",))]
    for i, rule in enumerate(pack.rules):
        uses += [(i, use) for use in param_uses(rule.scope, ("rules", i, "scope"))]
        uses += [(i, use) for use in param_uses(rule.assert_, ("rules", i, "assert"))]
    problems: list[str] = []
    seen: set[tuple] = set()
    for i, (where, op, name) in uses:
        param = pack.params.get(name)
        if param is None:   # undefined: reported from the conditions as written
            continue
        values: list[tuple[tuple, Any]] = [(("params", name, "default"), param.default)]
        values += [(("params", name, "environments", env), v) for env, v in param.environments.items()]
        if i is not None:
            values += [(("rules", i, "tests", j, "params", name), t.params[name])
                       for j, t in enumerate(pack.rules[i].tests) if name in t.params]
        for loc, value in values:
            problem = check_value(op, value)
            if problem is None or (loc, op) in seen:
                continue
            seen.add((loc, op))
            rule = f"rule {pack.rules[i].id}: " if i is not None else ""
            unset = "" if loc[-1] != "default" or "default" in param.model_fields_set else " (no default given)"
            text = f.texts.get(loc)
            hint = f" ({_quote_it(text, value)})" if text is not None and check_value(op, text) is None else ""
            problems.append(f"{f.path}:{line_for(loc if loc in f.lines else loc[:2], f.lines)}: {rule}field "
                            f"{field_path(loc)}: {problem}{unset}, for param '{name}' at {field_path(where)}{hint}")
    return problems


def _attribute_problems(pack: Pack, path: Path, lines: dict) -> list[str]:
    """Every condition key's fields checked against the declared attributes (:mod:`auditor.attributes`)
    of the resource type: the selector's against those of every type, a rule's against its own type's
    (not checked for a type that declares none: the unknown type is reported). Each literal value, and
    each value a parameter can take, is checked against the type of what its key reads; each inline
    test document's keys and values against the rule's type."""
    from ..attributes import document_problems, element, literal_problem

    problems: list[str] = []

    def report(loc: tuple, rule: str, message: str) -> None:
        line = f"{path}:{line_for(loc, lines)}: {rule}field {field_path(loc)}: {message}"
        if line not in problems:   # a parameter's value is reported once however many conditions use it
            problems.append(line)

    def param_values(i: int | None, name: str) -> list[tuple[tuple, Any]]:
        param = pack.params.get(name)
        if param is None:   # undefined: the schema reports it
            return []
        values = [(("params", name, "default"), param.default)]
        values += [(("params", name, "environments", env), v) for env, v in param.environments.items()]
        tests = pack.rules[i].tests if i is not None else []
        return values + [(("rules", i, "tests", j, "params", name), t.params[name])
                         for j, t in enumerate(tests) if name in t.params]

    def check(c: Condition, at: At, loc: tuple, rule: str, i: int | None) -> None:
        if c.key is not None:
            found, unknown = resolve(c.key, at)
            for u in unknown:
                report((*loc, "key"), rule, u)
            if c.op is None:   # all/any/none with a key: the conditions are about each item there
                at = (element(found[0]), found[1])
            elif is_param(c.value):
                name = str(c.value["param"])
                for where, value in param_values(i, name):
                    problem = literal_problem(c.op, value, found)
                    if problem:
                        report(where, rule, f"{problem}, for param '{name}' at {field_path((*loc, 'value'))}")
            else:
                problem = literal_problem(c.op, c.value, found)
                if problem:
                    report((*loc, "value"), rule, problem)
        for name in ("all", "any", "none"):
            for j, sub in enumerate(getattr(c, name) or []):
                check(sub, at, (*loc, name, j), rule, i)
        if c.not_ is not None:
            check(c.not_, at, (*loc, "not"), rule, i)

    for j, c in enumerate(pack.selector):
        check(c, (IDENTITY, "every resource type"), ("selector", j), "", None)
    shapes = table()
    for i, r in enumerate(pack.rules):
        if r.resource in shapes:
            for part, conditions in (("scope", r.scope), ("assert", r.assert_)):
                for j, c in enumerate(conditions):
                    check(c, (shapes[r.resource], r.resource), ("rules", i, part, j), f"rule {r.id}: ", i)
            for j, t in enumerate(r.tests):
                docs = [("resource",)] if t.resource is not None else [("resources", k) for k in range(len(t.documents))]
                for at_doc, doc in zip(docs, t.documents, strict=True):
                    for where, problem in document_problems(doc, shapes[r.resource], r.resource):
                        report(("rules", i, "tests", j, *at_doc, *where), f"rule {r.id}: ", problem)
    return problems


def rule_files(paths: Iterable[Path]) -> list[Path]:
    """The rule files named or found (``*.yaml``, ``*.yml``) under ``paths``; a missing path, or a
    folder holding none, is an error."""
    files: list[Path] = []
    problems: list[str] = []
    for p in paths:
        if p.is_dir():
            found = sorted(x for x in p.rglob("*") if x.suffix in (".yaml", ".yml") and x.is_file())
            if not found:
                problems.append(f"no rule files (*.yaml, *.yml) in {p}")
            files.extend(found)
        elif p.exists():
            files.append(p)
        else:
            problems.append(f"{p}: no such rule file or folder")
    if problems:
        raise RuleFileError(problems)
    return files


def load_packs(paths: Iterable[Path], known_types: Iterable[str] | None = None) -> list[LoadedPack]:
    """Load every rule file under ``paths``; collect every problem of every file, by file then line,
    before raising.

    With ``known_types``, a rule on a resource type that no collector produces is an error. Rule ids
    and resource types are checked as written, also in rules that failed validation.
    """
    known = set(known_types) if known_types is not None else None
    read = [_read_unchanged(path) for path in rule_files(paths)]
    first: dict[str, str] = {}
    for f, _ in read:
        for i, raw in f.raw_rules():
            resource, rule_id = raw.get("resource"), raw.get("id")
            if known is not None and isinstance(resource, str) and resource not in known:
                f.add(("rules", i, "resource"), f"unknown resource type '{resource}' ({_closest(resource, known, 'known')})")
            if isinstance(rule_id, str) and rule_id in first:
                f.add(("rules", i, "id"), f"duplicate id (first at {first[rule_id]})")
            elif isinstance(rule_id, str):
                first[rule_id] = f.where(("rules", i, "id"))
    problems = [p for f, _ in read for p in f.by_line()]
    if problems:
        raise RuleFileError(problems, [LoadedPack(pack, f.path, f.lines) for f, pack in read
                                       if pack is not None and not f.problems])
    return [LoadedPack(pack, f.path, f.lines) for f, pack in read if pack is not None]


def rules_root() -> Path:
    """The rule packs shipped in the package (``auditor/packs``: ``baseline/``, ``architectures/``)."""
    return PACKAGE_RULES


def architecture_names(root: Path | None = None) -> list[str]:
    return sorted(p.stem for p in ((root or rules_root()) / "architectures").glob("*.yaml"))


def pack_paths(architecture: str | None, extra: Iterable[Path] = (), root: Path | None = None) -> list[Path]:
    """Baseline, plus the named architecture pack, plus any extra rule paths."""
    root = root or rules_root()
    paths = [root / "baseline"]
    if architecture:
        arch = root / "architectures" / f"{architecture}.yaml"
        if not arch.exists():
            known = ", ".join(architecture_names(root)) or "none"
            raise RuleFileError([f"unknown architecture '{architecture}' (known: {known})"])
        paths.append(arch)
    return paths + list(extra)
