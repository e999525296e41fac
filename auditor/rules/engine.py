"""Compile rule packs into closures and evaluate them over a snapshot: pure, no I/O.

A resource whose per-resource call failed has some attributes unknown (``Resource.unknown``): a
rule whose keys read one of them (:func:`auditor.attributes.top_level`, once per rule) reports
``error`` on that resource, naming the call; its other rules and the rest of its type are judged.
"""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathTypeError

from ..attributes import top_level
from ..deployments import MEMBERSHIP_TYPES, Deployment, derive_deployments
from ..model import SKIP_NOTHING, SKIP_OUT_OF_SCOPE, Finding, FrozenDict, Resource, Snapshot, thaw
from ..relations import requires
from .loader import LoadedPack
from .operators import OPERATORS, SYMBOLS
from .schema import Condition, Pack, Rule, is_param

MAX_RENDER = 300
BASELINE_SCOPES = ("deployments", "account")


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
        """The value in ``environment``; one that is not a name (a document may say anything) has the default."""
        if name in self._overrides:
            return self._overrides[name]
        p = self._params[name]
        if isinstance(environment, str) and environment in p.environments:
            return p.environments[environment]
        return p.default

    def with_overrides(self, overrides: Mapping[str, Any]) -> Params:
        merged = Params.__new__(Params)
        merged._params, merged._overrides = self._params, {**self._overrides, **overrides}
        return merged


Check = Callable[[Any, Callable[[Any], Any]], list[Failure]]
"""A compiled condition: (document, resolve-value) -> failures (empty when it holds)."""


def _resolve_value(value: Any, resolve: Callable[[Any], Any]) -> Any:
    return resolve(value["param"]) if is_param(value) else value


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


def _search(expr: Any, doc: Any) -> Any:
    """The value at a compiled key; None when the document's values are not of the types the
    key's functions take (``starts_with(name, 'x')`` on a null name): the document has no such value."""
    try:
        return expr.search(doc)
    except JMESPathTypeError:
        return None


def _items(expr: Any, doc: Any) -> list[Any]:
    """The items a quantified key ranges over: the list at the key, a single value as one item."""
    items = _search(expr, doc)
    return [] if items is None else (items if isinstance(items, list) else [items])


def compile_condition(cond: Condition) -> Check:
    if cond.op is not None:
        expr, op, name = jmespath.compile(cond.key), OPERATORS[cond.op], cond.op

        def leaf(doc: Any, resolve: Callable[[Any], Any]) -> list[Failure]:
            actual = _search(expr, doc)
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
        items = _items(expr, doc)
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
    environment_scope: list[Check] = field(default_factory=list)   # scope conditions on `environment` alone
    scope_reads: frozenset[str] = frozenset()   # the document's own fields the scope reads
    reads: frozenset[str] = frozenset()         # ... that scope and assertions read

    def scoped_out(self, environment: str | None) -> bool:
        """The rule's scope excludes this environment whatever the resource."""
        doc = {"environment": environment}
        return any(c(doc, self.resolver(environment)) for c in self.environment_scope)

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
    """An architecture pack's selector with its parameters: which resources seed its deployments."""

    pack: Pack
    source: str
    params: Params
    checks: list[Check]
    keys: tuple[Any, ...] = ()   # compiled JMESPath of the selector's leaf keys (e.g. tags.Project)

    def matches(self, doc: Mapping[str, Any]) -> bool:
        environment = doc.get("environment")
        return all(not c(doc, lambda name: self.params.get(name, environment)) for c in self.checks)

    def tagged(self, doc: Mapping[str, Any]) -> bool:
        """The document has a value at every key the selector reads (it says whose it is)."""
        return bool(self.keys) and all(_search(k, doc) not in (None, "", []) for k in self.keys)


def _root_keys(conditions: Iterable[Condition]) -> list[str]:
    """The keys of conditions on the document itself (not those on the items of a quantified key)."""
    keys: list[str] = []
    for c in conditions:
        if c.key:
            keys.append(c.key)
        elif c.not_ is not None:
            keys += _root_keys([c.not_])
        else:
            keys += _root_keys([*(c.all or []), *(c.any or []), *(c.none or [])])
    return keys


def _params(conditions: Iterable[Condition]) -> set[str]:
    """The parameters conditions compare with, at any depth."""
    out: set[str] = set()
    for c in conditions:
        if is_param(c.value):
            out.add(c.value["param"])
        out |= _params([s for s in (c.not_, *(c.all or []), *(c.any or []), *(c.none or [])) if s is not None])
    return out


def _reads(pack: Pack, conditions: list[Condition]) -> frozenset[str]:
    """The document's own fields ``conditions`` read; ``environment`` too when a parameter they use
    has values per environment."""
    fields = {f for k in _root_keys(conditions) for f in top_level(k)}
    if any(pack.params[p].environments for p in _params(conditions) if p in pack.params):
        fields.add("environment")
    return frozenset(fields)


def _leaf_keys(conditions: Iterable[Condition]) -> list[str]:
    keys: list[str] = []
    for c in conditions:
        if c.op is not None and c.key:
            keys.append(c.key)
        for sub in (c.all, c.any, c.none):
            keys += _leaf_keys(sub or [])
    return keys


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
                self.selectors.append(PackSelector(pack, str(lp.path), params, selector,
                                                   tuple(jmespath.compile(k) for k in _leaf_keys(pack.selector))))
            for rule in pack.rules:
                self.rules.append(CompiledRule(
                    rule, pack.pack, str(lp.path), params, selector,
                    [compile_condition(c) for c in rule.scope],
                    [compile_condition(c) for c in rule.assert_],
                    [compile_condition(c) for c in rule.scope if c.key == "environment"],
                    _reads(pack, rule.scope), _reads(pack, [*rule.scope, *rule.assert_])))

    @property
    def resource_types(self) -> set[str]:
        return {t for r in self.rules for t in requires(r.rule.resource)}

    def deployments(self, snapshot: Snapshot) -> list[Deployment]:
        """The packs' deployments in ``snapshot``, derived once per snapshot and rule set."""
        key = ("deployments", tuple((s.pack.pack, id(s.params)) for s in self.selectors))
        return snapshot.memo(key, lambda: derive_deployments(snapshot, self.selectors))

    def evaluate(self, snapshot: Snapshot, baseline: str = "deployments") -> list[Finding]:
        """Every rule's findings. Pack rules judge each of their pack's deployments; rules of a
        pack without selector (the baseline) judge the members of all deployments, or the whole
        account when ``baseline`` is ``"account"`` or no pack has a selector."""
        view, account_wide = self._view(snapshot, baseline)
        return [f for cr in self.rules for f in _judge_rule(cr, view, account_wide)]

    def _view(self, snapshot: Snapshot, baseline: str) -> tuple[_View, bool]:
        """The snapshot as rules see it, and whether baseline rules judge the whole account."""
        if baseline not in BASELINE_SCOPES:
            raise ValueError(f"baseline must be one of {BASELINE_SCOPES}")
        return _View(snapshot, self.deployments(snapshot)), baseline == "account" or not self.selectors

    def documents(self, snapshot: Snapshot, resources: Iterable[Resource]) -> list[tuple[Resource, Mapping[str, Any]]]:
        """Each resource's documents as rules see them: one per deployment holding it (with that
        ``deployment`` and the environment it gives), else the snapshot's own."""
        view, _ = self._view(snapshot, "deployments")
        return [(r, doc) for r in resources for doc in view.documents(r)]

    def explain(self, snapshot: Snapshot, cr: CompiledRule, resources: Iterable[Resource],
                baseline: str = "deployments") -> list[Explanation]:
        """Rule ``cr`` on each of ``resources``, condition by condition (:func:`explain`), with the
        status of the rule's finding on it exactly as :meth:`evaluate` gives it, one per document
        judged; a resource the rule gives no finding is ``skip``, with why, on each of its documents."""
        view, account_wide = self._view(snapshot, baseline)
        findings = _judge_rule(cr, view, account_wide)
        judged: dict[tuple[str, str], list[Finding]] = defaultdict(list)
        for f in findings:
            judged[(f.resource["type"], f.resource["id"])].append(f)
        deployments = {d.key: d for d in view.deployments}
        out = []
        for r in resources:
            for f in judged.get((r.type, r.id), []):
                out.append(_explanation(cr, r, view.document(r, deployments.get(f.deployment)), f.status, f.message))
            if (r.type, r.id) not in judged:
                for doc in view.documents(r, cr.pack if cr.selector else None):
                    why = _not_judged(cr, doc, account_wide, findings)
                    out.append(_explanation(cr, r, doc, "skip", why))
        return out

    def run_tests(self) -> list[TestResult]:
        results = []
        for cr in self.rules:
            for t in cr.rule.tests:
                probe = cr if not t.params else _with_params(cr, t.params)
                try:
                    actual = probe.outcome(t.documents)
                except Exception as exc:   # noqa: BLE001 - reported as a failing case
                    actual = f"error ({_reason(exc)})"
                results.append(TestResult(cr.rule.id, t.name, t.expect, actual))
        return results


def _reason(exc: Exception) -> str:
    """One line saying why a rule could not be evaluated."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _with_params(cr: CompiledRule, overrides: Mapping[str, Any]) -> CompiledRule:
    return replace(cr, params=cr.params.with_overrides(overrides))


def _finding(cr: CompiledRule, resource: Mapping[str, Any], status: str, expected: Any,
             actual: Any, message: str, deployment: str | None = None, skip: str | None = None) -> Finding:
    r = cr.rule
    return Finding(rule_id=r.id, title=r.title, severity=r.severity, status=status,
                   resource=resource, expected=expected, actual=actual, message=message,
                   doc=r.doc.model_dump(exclude_none=True), remediation=r.remediation, pack=cr.pack,
                   deployment=deployment, skip=skip)


def missing_ref(snapshot: Snapshot, rtype: str, deployment: str | None = None) -> dict[str, Any]:
    """The resource block of a finding about something absent (in one deployment)."""
    return {"type": rtype, "id": f"(none in {deployment})" if deployment else "(none)", "arn": None,
            "name": None, "region": snapshot.region, "account": snapshot.account}


class _View:
    """The snapshot as rules see it: deployments and each member's document within its deployment."""

    def __init__(self, snapshot: Snapshot, deployments: list[Deployment]):
        self.snapshot = snapshot
        self.deployments = deployments
        self.failed = snapshot.failed_types()
        self.holders: dict[tuple[str, str], list[str]] = defaultdict(list)   # deployment keys
        for d in deployments:
            for r in d.resources():
                self.holders[(r.type, r.id)].append(d.key)
        self.membership_failed = sorted(set(self.failed) & MEMBERSHIP_TYPES)
        self._docs: dict[tuple[str, str, str], Mapping[str, Any]] = {}

    def document(self, r: Resource, deployment: Deployment | None) -> Mapping[str, Any]:
        if deployment is None:
            return self.snapshot.document(r)
        key = (r.type, r.id, deployment.key)
        doc = self._docs.get(key)
        if doc is None:
            doc = self._docs[key] = FrozenDict({**self.snapshot.document(r), "deployment": deployment.key,
                                                "environment": r.environment or deployment.environment})
        return doc

    @staticmethod
    def blind(r: Resource, doc: Mapping[str, Any], reads: frozenset[str]) -> str | None:
        """Why ``r`` cannot be judged on the fields ``reads`` (the failed calls that left some of them
        unknown), or None. An environment its deployment gives is known."""
        unknown = [a for a in sorted(reads.intersection(r.unknown))
                   if a != "environment" or doc.get("environment") is None]
        return "; ".join(dict.fromkeys(r.unknown[a] for a in unknown)) or None

    def documents(self, r: Resource, pack: str | None = None) -> list[Mapping[str, Any]]:
        """``r``'s document in each deployment (of ``pack``) that holds it, else its own."""
        held = [d for d in self.deployments if d.holds(r) and pack in (None, d.pack)]
        return [self.document(r, d) for d in held] or [self.document(r, None)]

    def candidate(self, cr: CompiledRule, r: Resource, doc: Mapping[str, Any], use_selector: bool = True) -> bool:
        """The rule applies to ``r``, or cannot tell (its scope reads what is unknown): judged, or error."""
        return cr.applies(doc, use_selector) or self.blind(r, doc, cr.scope_reads) is not None

    def of_pack(self, pack: str) -> list[Deployment]:
        return [d for d in self.deployments if d.pack == pack]

    def errors(self, rtype: str) -> str | None:
        errors = [e for t in sorted(requires(rtype)) for e in self.failed.get(t, [])]
        if not errors:
            return None
        return "; ".join(f"{e.service}:{e.operation} failed ({e.code}: {e.message})"
                         for e in {(e.service, e.operation, e.code): e for e in errors}.values())


def _wanted(cr: CompiledRule, environment: str | None) -> str:
    """What the rule looks for: "a listener where protocol == ..." or "a listener"."""
    resolve = cr.resolver(environment)
    scope = " and ".join(describe(c, resolve) for c in cr.rule.scope)
    article = "an" if cr.rule.resource[0] in "aeiou" else "a"
    return f"{article} {cr.rule.resource} where {scope}" if scope else f"{article} {cr.rule.resource}"


def _judge(cr: CompiledRule, view: _View, candidates: list[tuple[Resource, Mapping[str, Any]]],
           deployment: Deployment | None) -> list[Finding]:
    key = deployment.key if deployment else None
    out = []
    for r, doc in candidates:
        blind = view.blind(r, doc, cr.reads)
        if blind:
            out.append(_finding(cr, r.ref, "error", None, None, f"cannot evaluate: {blind}", key))
            continue
        failures = cr.failures(doc)
        if failures:
            expected = "; ".join(f.expected for f in failures)
            actual = "; ".join(f.actual for f in failures)
            out.append(_finding(cr, r.ref, "fail", expected, actual,
                                f"{cr.rule.title}: expected {expected}, found {actual}", key))
        else:
            out.append(_finding(cr, r.ref, "pass", None, None, cr.rule.title, key))
    return out


def _absent(cr: CompiledRule, view: _View, deployment: Deployment | None, where: str,
            others: list[Resource] = ()) -> Finding:
    """A rule that found nothing to judge: fail (``when_absent: fail``) or skip, with the reason."""
    rule, key = cr.rule, deployment.key if deployment else None
    environment = deployment.environment if deployment else None
    wanted = f"{_wanted(cr, environment)} {where}"
    ref = missing_ref(view.snapshot, rule.resource, key)
    if others:
        holders = [", ".join(view.holders.get((r.type, r.id), ())) for r in others]
        names = ", ".join(sorted(f"{r.name or r.id} ({held})" if held else r.name or r.id
                                 for r, held in zip(others, holders, strict=True))[:5])
        whose = "another deployment's" if all(holders) else "another application's"
        actual = f"only {whose} {rule.resource} matches: {names}"
    else:
        actual = f"no such {rule.resource}"
    if rule.when_absent == "fail":
        return _finding(cr, ref, "fail", wanted, actual, f"{rule.title}: expected {wanted}, found {actual}", key)
    return _finding(cr, ref, "skip", wanted, actual, f"applies to nothing: expected {wanted}, found {actual}",
                    key, skip=SKIP_NOTHING)


def _errored(cr: CompiledRule, view: _View, refs: list[Mapping[str, Any]], reason: str,
             deployment: Deployment | None) -> list[Finding]:
    key = deployment.key if deployment else None
    refs = refs or [missing_ref(view.snapshot, cr.rule.resource, key)]
    return [_finding(cr, ref, "error", None, None, f"cannot evaluate: {reason}", key) for ref in refs]


def _judge_pack_rule(cr: CompiledRule, view: _View, by_name: bool) -> list[Finding]:
    """A pack rule over each of its pack's deployments. ``by_name`` (``pack_selector: false``):
    when no member matches the scope, a resource that belongs to no deployment and no other
    application may stand in (matched by name); one that another deployment (of this pack or
    another) or another application holds never does, and the finding names its holder."""
    rule, deployments = cr.rule, view.of_pack(cr.pack)
    if not deployments:
        reason = view.errors(rule.resource)
        if reason:
            return _errored(cr, view, [], reason, None)
        return [_absent(cr, view, None, f"(no {cr.pack} deployment in the account)")]
    out: list[Finding] = []
    for d in deployments:
        if cr.scoped_out(d.environment):
            out.append(_finding(cr, missing_ref(view.snapshot, rule.resource, d.key), "skip", _wanted(cr, d.environment),
                                f"environment {d.environment or '(none)'} is outside the rule's scope",
                                f"not asked in {d.key}: the rule looks for {_wanted(cr, d.environment)}", d.key,
                                skip=SKIP_OUT_OF_SCOPE))
            continue
        candidates = [(r, doc) for r in d.of_type(rule.resource)
                      if view.candidate(cr, r, doc := view.document(r, d), use_selector=False)]
        others: list[Resource] = []
        if not candidates and by_name:
            for r in view.snapshot.of_type(rule.resource):
                if d.holds(r) or not cr.applies(view.document(r, d), use_selector=False):
                    continue
                if (r.type, r.id) in d.foreign or (r.type, r.id) in view.holders:
                    others.append(r)
                else:
                    candidates.append((r, view.document(r, d)))
        reason = view.errors(rule.resource)
        if reason:
            out.extend(_errored(cr, view, [r.ref for r, _ in candidates], reason, d))
        elif candidates:
            out.extend(_judge(cr, view, candidates, d))
        elif view.membership_failed:   # what the deployment holds is not fully known
            out.extend(_errored(cr, view, [], "cannot tell what the deployment holds: collection failed for "
                                + ", ".join(view.membership_failed), d))
        else:
            out.append(_absent(cr, view, d, f"in {d.key}", others))
    return out


def _judge_shared_rule(cr: CompiledRule, view: _View, account_wide: bool) -> list[Finding]:
    """A rule of a pack without selector (the baseline): over the audited deployments' members,
    each judged once, or over the whole account."""
    rule = cr.rule
    if account_wide:
        pairs = [(r, view.document(r, None)) for r in view.snapshot.of_type(rule.resource)]
        where = "in the account"
    else:
        seen: dict[tuple[str, str], tuple[Resource, Mapping[str, Any]]] = {}
        for d in view.deployments:   # a resource two deployments share is its own environment's
            for r in d.of_type(rule.resource):
                if (r.type, r.id) not in seen or (r.environment and r.environment == d.environment):
                    seen[(r.type, r.id)] = (r, view.document(r, d))
        pairs = list(seen.values())
        where = "in the audited deployments (" + (", ".join(d.key for d in view.deployments) or "none found") + ")"
    candidates = [(r, doc) for r, doc in pairs if view.candidate(cr, r, doc)]
    reason = view.errors(rule.resource)
    if reason:
        return _errored(cr, view, [r.ref for r, _ in candidates], reason, None)
    if not candidates:
        return [_absent(cr, view, None, where)]
    out = []
    for f, (_, doc) in zip(_judge(cr, view, candidates, None), candidates, strict=True):
        out.append(replace(f, deployment=doc.get("deployment")))
    return out


def _judge_rule(cr: CompiledRule, view: _View, account_wide: bool) -> list[Finding]:
    """One rule's findings (see :meth:`RuleSet.evaluate`)."""
    try:
        if cr.selector and cr.rule.pack_selector:
            return _judge_pack_rule(cr, view, by_name=False)
        if cr.selector:
            return _judge_pack_rule(cr, view, by_name=True)
        return _judge_shared_rule(cr, view, account_wide)
    except Exception as exc:   # noqa: BLE001 - one rule that cannot run must not stop the audit
        return _errored(cr, view, [], _reason(exc), None)


# -- explaining one rule on one document: the compiled checks' own answers, condition by condition ------

@dataclass(frozen=True)
class Explained:
    """One condition on one document. ``holds`` is the compiled check's answer (what the audit
    uses); the rest says why: a comparison's key, operator, expected value (and the parameter it
    comes from) and the actual value at the key; a group's or ``not``'s sub-conditions (``parts``);
    a quantified key's items, each with the sub-conditions on it."""

    holds: bool
    text: str
    key: str | None = None
    op: str | None = None
    expected: Any = None
    param: str | None = None
    actual: Any = None
    kind: str | None = None   # all, any, none or not; None for a comparison
    parts: tuple[Explained, ...] = ()
    items: tuple[ExplainedItem, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"holds": self.holds, "condition": self.text}
        if self.op is not None:
            out.update(key=self.key, op=self.op, expected=thaw(self.expected), actual=thaw(self.actual))
            if self.param is not None:
                out["param"] = self.param
            return out
        out["kind"] = self.kind
        if self.key is not None:
            out["key"] = self.key
            out["items"] = [{"holds": i.holds, "item": thaw(i.value), "conditions": [p.as_dict() for p in i.parts]}
                            for i in self.items]
        else:
            out["conditions"] = [p.as_dict() for p in self.parts]
        return out


@dataclass(frozen=True)
class ExplainedItem:
    """One item of a quantified key and its sub-conditions; it matches when all of them hold."""

    value: Any
    parts: tuple[Explained, ...]

    @property
    def holds(self) -> bool:
        return all(p.holds for p in self.parts)


def explain_condition(cond: Condition, doc: Any, resolve: Callable[[Any], Any], check: Check | None = None) -> Explained:
    """``cond`` on ``doc``: ``check`` (its compiled form, compiled here when not given) answers
    whether it holds; the same keys and resolved values say why."""
    holds = not (check or compile_condition(cond))(doc, resolve)
    text = describe(cond, resolve)
    if cond.op is not None:
        param = cond.value["param"] if is_param(cond.value) else None
        return Explained(holds, text, cond.key, cond.op, _resolve_value(cond.value, resolve), param,
                         _search(jmespath.compile(cond.key), doc))
    if cond.not_ is not None:
        return Explained(holds, text, kind="not", parts=(explain_condition(cond.not_, doc, resolve),))
    kind = next(k for k in ("all", "any", "none") if getattr(cond, k) is not None)
    subs = getattr(cond, kind)
    if cond.key is None:
        return Explained(holds, text, kind=kind, parts=tuple(explain_condition(c, doc, resolve) for c in subs))
    items = _items(jmespath.compile(cond.key), doc)
    return Explained(holds, text, cond.key, kind=kind, items=tuple(
        ExplainedItem(item, tuple(explain_condition(c, item, resolve) for c in subs)) for item in items))


def explain(cr: CompiledRule, doc: Mapping[str, Any]) -> tuple[tuple[Explained, ...], tuple[Explained, ...]]:
    """The rule's scope and assert conditions on ``doc``, each answered by the compiled check the
    audit runs, with the pack parameters of the document's environment."""
    resolve = cr.resolver(doc.get("environment"))
    return (tuple(explain_condition(c, doc, resolve, check) for c, check in zip(cr.rule.scope, cr.scope, strict=True)),
            tuple(explain_condition(c, doc, resolve, check) for c, check in zip(cr.rule.assert_, cr.checks, strict=True)))


@dataclass(frozen=True)
class Explanation:
    """One rule on one document of a resource: its conditions and the status the audit gives."""

    rule_id: str
    resource: Mapping[str, Any]
    deployment: str | None
    environment: str | None
    scope: tuple[Explained, ...]
    asserts: tuple[Explained, ...]
    status: str
    message: str

    @property
    def in_scope(self) -> bool:
        return all(c.holds for c in self.scope)

    def as_dict(self) -> dict[str, Any]:
        return {"rule_id": self.rule_id, "resource": dict(self.resource), "deployment": self.deployment,
                "environment": self.environment, "in_scope": self.in_scope,
                "scope": [c.as_dict() for c in self.scope], "assert": [c.as_dict() for c in self.asserts],
                "status": self.status, "message": self.message}


def _explanation(cr: CompiledRule, r: Resource, doc: Mapping[str, Any], status: str, message: str) -> Explanation:
    scope, asserts = explain(cr, doc)
    return Explanation(cr.rule.id, r.ref, doc.get("deployment"), doc.get("environment"), scope, asserts, status, message)


def _not_judged(cr: CompiledRule, doc: Mapping[str, Any], account_wide: bool, findings: list[Finding]) -> str:
    """Why the rule gives no finding on the resource of ``doc``, and its finding about that deployment."""
    deployment = doc.get("deployment")
    if cr.selector and deployment is None:
        why = f"not judged: not a member of a {cr.pack} deployment"
    elif deployment is None and not account_wide:
        why = "not judged: not a member of an audited deployment"
    elif not cr.applies(doc, use_selector=False):
        why = "not judged: outside the rule's scope"
    else:
        why = "not judged: the rule gave it no finding"
    there = [f for f in findings if f.deployment in (deployment, None) and f.resource["id"].startswith("(none")]
    return "; ".join([why, *(f"the rule's finding in {f.deployment or 'the account'}: {f.status}: {f.message}"
                             for f in there)])
