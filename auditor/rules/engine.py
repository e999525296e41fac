"""Compile rule packs into closures and evaluate them over a snapshot: pure, no I/O."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jmespath

from ..model import Finding, Resource, Snapshot
from ..relations import requires
from .loader import LoadedPack
from .operators import OPERATORS, SYMBOLS
from .schema import Condition, Pack, Rule

MAX_RENDER = 300


def _compact(value: Any) -> Any:
    """Drop null and empty members of objects, so messages show what is set."""
    if isinstance(value, dict):
        return {k: _compact(v) for k, v in value.items() if v not in (None, [], {}, "")}
    if isinstance(value, list):
        return [_compact(v) for v in value]
    return value


def render(value: Any) -> str:
    """Compact JSON for messages, cut to a readable length."""
    text = json.dumps(_compact(value), sort_keys=True, default=str, separators=(", ", ": "))
    return text if len(text) <= MAX_RENDER else text[:MAX_RENDER - 3] + "..."


@dataclass(frozen=True)
class Failure:
    expected: str
    actual: str


class Params:
    """Pack parameters resolved for one environment, with command-line overrides on top."""

    def __init__(self, pack: Pack, overrides: Mapping[str, Any] | None = None):
        self._params = pack.params
        self._overrides = dict(overrides or {})

    def get(self, name: str, environment: str | None) -> Any:
        if name in self._overrides:
            return self._overrides[name]
        p = self._params[name]
        if environment and environment in p.environments:
            return p.environments[environment]
        return p.default

    def with_overrides(self, overrides: Mapping[str, Any]) -> Params:
        merged = Params.__new__(Params)
        merged._params, merged._overrides = self._params, {**self._overrides, **overrides}
        return merged


Check = Callable[[Any, Callable[[Any], Any]], list[Failure]]
"""A compiled condition: (document, resolve-value) -> failures (empty when it holds)."""


def _resolve_value(value: Any, resolve: Callable[[Any], Any]) -> Any:
    return resolve(value["param"]) if isinstance(value, dict) and set(value) == {"param"} else value


def describe(cond: Condition, resolve: Callable[[Any], Any]) -> str:
    """A human reading of a condition, parameters resolved."""
    if cond.op is not None:
        return f"{cond.key} {SYMBOLS.get(cond.op, cond.op)} {render(_resolve_value(cond.value, resolve))}"
    if cond.not_ is not None:
        return f"not ({describe(cond.not_, resolve)})"
    kind, subs = next((k, getattr(cond, k)) for k in ("all", "any", "none") if getattr(cond, k) is not None)
    joiner = " and " if kind == "all" or cond.key is not None else " or "  # an item meets all of them
    inner = joiner.join(describe(s, resolve) for s in subs)
    if cond.key is None:
        return {"all": inner, "any": f"any of ({inner})", "none": f"none of ({inner})"}[kind]
    word = {"all": "every", "any": "some", "none": "no"}[kind]
    return f"{word} item of {cond.key}: {inner}"


def compile_condition(cond: Condition) -> Check:
    if cond.op is not None:
        expr, op, name = jmespath.compile(cond.key), OPERATORS[cond.op], cond.op

        def leaf(doc: Any, resolve: Callable[[Any], Any]) -> list[Failure]:
            actual = expr.search(doc)
            expected = _resolve_value(cond.value, resolve)
            if op(actual, expected):
                return []
            return [Failure(f"{cond.key} {SYMBOLS.get(name, name)} {render(expected)}",
                            f"{cond.key} = {render(actual)}")]
        return leaf
    if cond.not_ is not None:
        inner = compile_condition(cond.not_)
        return lambda doc, resolve: [] if inner(doc, resolve) else [
            Failure(describe(cond, resolve), "it does")]
    kind = next(k for k in ("all", "any", "none") if getattr(cond, k) is not None)
    subs = [compile_condition(c) for c in getattr(cond, kind)]

    def group(doc: Any, resolve: Callable[[Any], Any]) -> list[Failure]:
        failures = [f for check in subs for f in check(doc, resolve)]
        return failures

    if cond.key is None:
        if kind == "all":
            return group

        def anyof(doc: Any, resolve: Callable[[Any], Any]) -> list[Failure]:
            results = [check(doc, resolve) for check in subs]
            ok = [not r for r in results]
            if (kind == "any" and any(ok)) or (kind == "none" and not any(ok)):
                return []
            actual = "; ".join(f.actual for r in results for f in r) if kind == "any" else "a condition holds"
            return [Failure(describe(cond, resolve), actual)]
        return anyof

    expr = jmespath.compile(cond.key)

    def quantified(doc: Any, resolve: Callable[[Any], Any]) -> list[Failure]:
        items = expr.search(doc)
        items = [] if items is None else (items if isinstance(items, list) else [items])
        matches = [not group(item, resolve) for item in items]
        if kind == "all":
            bad = [(i, group(item, resolve)) for i, item in enumerate(items) if not matches[i]]
            return [Failure(describe(cond, resolve),
                            "; ".join(f"{cond.key}[{i}]: {f.actual}" for i, fs in bad for f in fs))] if bad else []
        if kind == "any":
            return [] if any(matches) else [Failure(
                describe(cond, resolve), f"{cond.key} = {render(items)}" if items else f"{cond.key} is empty")]
        offending = [items[i] for i, m in enumerate(matches) if m]
        return [Failure(describe(cond, resolve), f"{cond.key} has {render(offending)}")] if offending else []
    return quantified


@dataclass
class CompiledRule:
    rule: Rule
    pack: str
    source: str
    params: Params
    selector: list[Check]
    scope: list[Check]
    checks: list[Check]
    scope_text: list[str] = field(default_factory=list)

    def resolver(self, environment: str | None) -> Callable[[Any], Any]:
        return lambda name: self.params.get(name, environment)

    def applies(self, doc: Mapping[str, Any], use_selector: bool = True) -> bool:
        resolve = self.resolver(doc.get("environment"))
        checks = (self.selector if use_selector and self.rule.pack_selector else []) + self.scope
        return all(not c(doc, resolve) for c in checks)

    def failures(self, doc: Mapping[str, Any]) -> list[Failure]:
        resolve = self.resolver(doc.get("environment"))
        return [f for c in self.checks for f in c(doc, resolve)]

    def outcome(self, docs: Iterable[Mapping[str, Any]]) -> str:
        """pass, fail or skip over some documents, as an audit would judge them (without the
        pack selector): used by the inline tests."""
        applicable = [d for d in docs if self.applies(d, use_selector=False)]
        if not applicable:
            return "fail" if self.rule.when_absent == "fail" else "skip"
        return "fail" if any(self.failures(d) for d in applicable) else "pass"


@dataclass(frozen=True)
class TestResult:
    rule_id: str
    name: str
    expected: str
    actual: str

    @property
    def ok(self) -> bool:
        return self.expected == self.actual


@dataclass(frozen=True)
class PackSelector:
    """An architecture pack's selector with its parameters: which resources form its deployment."""

    pack: Pack
    source: str
    params: Params
    checks: list[Check]

    def matches(self, doc: Mapping[str, Any]) -> bool:
        environment = doc.get("environment")
        return all(not c(doc, lambda name: self.params.get(name, environment)) for c in self.checks)


class RuleSet:
    """The compiled rules of one or more packs."""

    def __init__(self, packs: Iterable[LoadedPack], overrides: Mapping[str, Any] | None = None):
        self.packs = list(packs)
        self.rules: list[CompiledRule] = []
        self.selectors: list[PackSelector] = []
        for lp in self.packs:
            pack = lp.pack
            params = Params(pack, {k: v for k, v in (overrides or {}).items() if k in pack.params})
            selector = [compile_condition(c) for c in pack.selector]
            if selector:
                self.selectors.append(PackSelector(pack, str(lp.path), params, selector))
            for rule in pack.rules:
                self.rules.append(CompiledRule(
                    rule, pack.pack, str(lp.path), params, selector,
                    [compile_condition(c) for c in rule.scope],
                    [compile_condition(c) for c in rule.assert_]))

    @property
    def resource_types(self) -> set[str]:
        return {t for r in self.rules for t in requires(r.rule.resource)}

    def evaluate(self, snapshot: Snapshot) -> list[Finding]:
        failed = snapshot.failed_types()
        findings: list[Finding] = []
        for cr in self.rules:
            findings.extend(_evaluate_rule(cr, snapshot, failed))
        return findings

    def run_tests(self) -> list[TestResult]:
        results = []
        for cr in self.rules:
            for t in cr.rule.tests:
                probe = cr if not t.params else _with_params(cr, t.params)
                results.append(TestResult(cr.rule.id, t.name, t.expect, probe.outcome(t.documents)))
        return results


def _with_params(cr: CompiledRule, overrides: Mapping[str, Any]) -> CompiledRule:
    return CompiledRule(cr.rule, cr.pack, cr.source, cr.params.with_overrides(overrides),
                        cr.selector, cr.scope, cr.checks)


def _finding(cr: CompiledRule, resource: Mapping[str, Any], status: str, expected: Any,
             actual: Any, message: str) -> Finding:
    r = cr.rule
    return Finding(rule_id=r.id, title=r.title, severity=r.severity, status=status,
                   resource=resource, expected=expected, actual=actual, message=message,
                   doc=r.doc.model_dump(exclude_none=True), remediation=r.remediation, pack=cr.pack)


def _missing_ref(snapshot: Snapshot, rtype: str) -> dict[str, Any]:
    return {"type": rtype, "id": "(none)", "arn": None, "name": None,
            "region": snapshot.region, "account": snapshot.account}


def _evaluate_rule(cr: CompiledRule, snapshot: Snapshot, failed: Mapping[str, list]) -> list[Finding]:
    rule = cr.rule
    errors = [e for t in sorted(requires(rule.resource)) for e in failed.get(t, [])]
    candidates: list[Resource] = [r for r in snapshot.of_type(rule.resource)
                                  if cr.applies(snapshot.document(r))]
    if errors:
        reason = "; ".join(f"{e.service}:{e.operation} failed ({e.code}: {e.message})"
                           for e in {(e.service, e.operation, e.code): e for e in errors}.values())
        refs = [r.ref for r in candidates] or [_missing_ref(snapshot, rule.resource)]
        return [_finding(cr, ref, "error", None, None, f"cannot evaluate: {reason}") for ref in refs]
    if not candidates:
        if rule.when_absent == "fail":
            resolve = cr.resolver(None)
            wanted = " and ".join(describe(c, resolve) for c in rule.scope) or "any"
            return [_finding(cr, _missing_ref(snapshot, rule.resource), "fail",
                             f"a {rule.resource} where {wanted}", f"no such {rule.resource}",
                             f"{rule.title}: no {rule.resource} where {wanted}")]
        return []
    out = []
    for r in candidates:
        failures = cr.failures(snapshot.document(r))
        if failures:
            expected = "; ".join(f.expected for f in failures)
            actual = "; ".join(f.actual for f in failures)
            out.append(_finding(cr, r.ref, "fail", expected, actual,
                                f"{rule.title}: expected {expected}, found {actual}"))
        else:
            out.append(_finding(cr, r.ref, "pass", None, None, rule.title))
    return out
