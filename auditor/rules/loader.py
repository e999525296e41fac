"""Load rule packs from YAML, validating each file and naming file, line, rule and field on error."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..attributes import IDENTITY, At, resolve, table
from ..package_data import package_path
from ..yaml_lines import YamlFileError, field_path, line_for, read_yaml
from .operators import check_value
from .schema import Condition, Pack, param_uses

PACKAGE_RULES = package_path("packs")


class RuleFileError(Exception):
    """One or more problems in rule files; ``problems`` holds one line each."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


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
            return str(data["rules"][loc[1]].get("id"))
        except (KeyError, IndexError, TypeError, AttributeError):
            return None
    return None


def load_pack_file(path: Path) -> LoadedPack:
    """Parse and validate one rule file."""
    try:
        data, lines = read_yaml(path)
    except YamlFileError as exc:
        raise RuleFileError([str(exc)]) from exc
    if data is None:
        raise RuleFileError([f"{path}:1: empty rule file"])
    try:
        pack = Pack.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            rule = _rule_id(data, loc)
            field = field_path(loc) or "(top level)"
            problems.append(f"{path}:{line_for(loc, lines)}: "
                            f"{f'rule {rule}: ' if rule else ''}field {field}: {err['msg']}")
        raise RuleFileError(problems) from exc
    problems = _param_value_problems(pack, path, lines) + _attribute_problems(pack, path, lines)
    if problems:
        raise RuleFileError(problems)
    return LoadedPack(pack, path, lines)


def _param_value_problems(pack: Pack, path: Path, lines: dict) -> list[str]:
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
        if param is None:   # undefined: the schema reports it
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
            problems.append(f"{path}:{line_for(loc if loc in lines else loc[:2], lines)}: {rule}field "
                            f"{field_path(loc)}: {problem}{unset}, for param '{name}' at {field_path(where)}")
    return problems


def _attribute_problems(pack: Pack, path: Path, lines: dict) -> list[str]:
    """Every condition key's fields checked against the declared attributes (:mod:`auditor.attributes`)
    of the resource type: the selector's against those of every type, a rule's against its own type's
    (not checked for a type that declares none: the unknown type is reported)."""
    problems: list[str] = []

    def check(c: Condition, at: At, loc: tuple, rule: str) -> None:
        if c.key is not None:
            found, unknown = resolve(c.key, at)
            problems.extend(f"{path}:{line_for((*loc, 'key'), lines)}: {rule}field {field_path((*loc, 'key'))}: {u}"
                            for u in unknown)
            if c.op is None:   # all/any/none with a key: the conditions are about each item there
                at = found
        for name in ("all", "any", "none"):
            for j, sub in enumerate(getattr(c, name) or []):
                check(sub, at, (*loc, name, j), rule)
        if c.not_ is not None:
            check(c.not_, at, (*loc, "not"), rule)

    for j, c in enumerate(pack.selector):
        check(c, (IDENTITY, "every resource type"), ("selector", j), "")
    shapes = table()
    for i, r in enumerate(pack.rules):
        if r.resource in shapes:
            for part, conditions in (("scope", r.scope), ("assert", r.assert_)):
                for j, c in enumerate(conditions):
                    check(c, (shapes[r.resource], r.resource), ("rules", i, part, j), f"rule {r.id}: ")
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
    """Load every rule file under ``paths``; collect all problems before raising.

    With ``known_types``, a rule on a resource type that no collector produces is an error.
    """
    known = set(known_types) if known_types is not None else None
    problems: list[str] = []
    packs: list[LoadedPack] = []
    for f in rule_files(paths):
        try:
            packs.append(load_pack_file(f))
        except RuleFileError as exc:
            problems.extend(exc.problems)
    seen: dict[str, Path] = {}
    for lp in packs:
        for i, rule in enumerate(lp.pack.rules):
            if known is not None and rule.resource not in known:
                problems.append(f"{lp.where('rules', i, 'resource')}: rule {rule.id}: field "
                                f"rules[{i}].resource: unknown resource type '{rule.resource}' "
                                f"(known: {', '.join(sorted(known))})")
            if rule.id in seen:
                problems.append(f"{lp.where('rules', i, 'id')}: rule {rule.id}: duplicate id (also in {seen[rule.id]})")
            seen[rule.id] = lp.path
    if problems:
        raise RuleFileError(problems)
    return packs


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
