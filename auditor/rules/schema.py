"""The rule-file format, as pydantic models; ``export_json_schema`` gives editors the same schema."""
from __future__ import annotations

from typing import Any, Literal

import jmespath
from jmespath.exceptions import JMESPathError
from jmespath.functions import Functions
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ..cost.estimate import SERVICES
from ..model import Severity
from .operators import OPERATORS, check_value

OperatorName = Literal[tuple(sorted(OPERATORS))]  # type: ignore[valid-type]
ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$"
CostService = Literal[SERVICES]  # type: ignore[valid-type]


def is_param(value: Any) -> bool:
    """Whether a condition's value is ``{param: NAME}``, a pack parameter."""
    return isinstance(value, dict) and set(value) == {"param"}


def check_key(key: str) -> str | None:
    """None when ``key`` is a JMESPath expression that can run, else what is wrong with it."""
    try:
        parsed = jmespath.compile(key).parsed
    except JMESPathError as exc:
        detail = getattr(exc, "message", None) or getattr(exc, "msg", None) or str(exc).splitlines()[0]
        if detail == "Invalid jmespath expression" and getattr(exc, "token_type", None) is None:
            detail = "incomplete expression"
        where = getattr(exc, "lex_position", None)
        detail += f" at column {where}" if where is not None else ""
        return f"invalid JMESPath expression {key!r}: {detail}"
    return _check_functions(key, parsed)


def _check_functions(key: str, node: Any) -> str | None:
    """Unknown functions and wrong argument counts fail only when a document is searched: catch them now."""
    if not isinstance(node, dict):
        return None
    if node.get("type") == "function_expression":
        name, args = node.get("value"), node.get("children", [])
        spec = Functions.FUNCTION_TABLE.get(name)
        if spec is None:
            return f"invalid JMESPath expression {key!r}: unknown function {name}()"
        signature = spec["signature"]
        variadic = bool(signature) and signature[-1].get("variadic")
        if (len(args) < len(signature)) if variadic else (len(args) != len(signature)):
            return (f"invalid JMESPath expression {key!r}: {name}() takes "
                    f"{'at least ' if variadic else ''}{len(signature)} argument(s), got {len(args)}")
    for child in node.get("children", []):
        problem = _check_functions(key, child)
        if problem:
            return problem
    return None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Condition(_Strict):
    """One check. Exactly one form:

    - ``{key, op, value}``: JMESPath ``key`` of the document compared with ``value``;
    - ``{key, all|any|none: [conditions]}``: every/some/no item of the list at ``key`` meets
      ALL the listed conditions (for alternatives inside one item, nest ``{any: [...]}``);
    - ``{all|any|none: [conditions]}``: a boolean group over the same document;
    - ``{not: condition}``.
    ``value`` may be ``{param: NAME}``: a pack parameter, resolved per environment.
    """

    key: str | None = Field(None, description="JMESPath expression over the resource document; with all/any/none, "
                            "the list whose items the conditions judge (a single value counts as one item, null as none)")
    op: OperatorName | None = Field(None, description="how the value at key is compared with value "  # type: ignore[valid-type]
                                    "(each operator's description says exactly)")
    value: Any = Field(None, validate_default=True,   # checked against op even when left out
                       description="what op compares with; {param: NAME} takes a pack parameter, resolved per environment")
    all: list[Condition] | None = Field(None, description=(
        "without key: every listed condition holds on the document. With key: every item of the list at key "
        "meets all the listed conditions (no items: holds)"))
    any: list[Condition] | None = Field(None, description=(
        "without key: at least one listed condition holds on the document. With key: at least one item of the "
        "list at key meets ALL the listed conditions together, not one condition each (for alternatives within "
        "one item, nest {any: [...]} inside); no items: fails"))
    none: list[Condition] | None = Field(None, description=(
        "without key: no listed condition holds on the document. With key: no item of the list at key meets "
        "all the listed conditions together (no items: holds)"))
    not_: Condition | None = Field(None, alias="not", description="holds when the condition does not; takes no key "
                                   "(put it inside)")

    @field_validator("key")
    @classmethod
    def _key_compiles(cls, key: str | None) -> str | None:
        problem = check_key(key) if key is not None else None
        if problem:
            raise PydanticCustomError("jmespath", problem)
        return key

    @field_validator("value")
    @classmethod
    def _value_suits_op(cls, value: Any, info: ValidationInfo) -> Any:
        op = info.data.get("op")
        if op is not None and not is_param(value):   # parameters: checked with the pack (loader)
            problem = check_value(op, value)
            if problem:
                raise PydanticCustomError("operator_value", problem)
        return value

    @model_validator(mode="after")
    def _one_form(self) -> Condition:
        groups = [n for n in ("all", "any", "none") if getattr(self, n) is not None]
        if self.not_ is not None:
            groups.append("not")
        if self.op is not None:
            if groups:
                raise ValueError(f"'op' cannot be combined with '{groups[0]}' in one condition: make them two "
                                 f"conditions, or move the op inside '{groups[0]}'")
            if self.key is None:
                raise ValueError("'op' needs a 'key' (the JMESPath expression the op compares)")
        elif len(groups) > 1:
            raise ValueError(f"one condition holds {' and '.join(groups)}: keep one and nest the others inside "
                             f"it, e.g. {{all: [..., {{any: [...]}}]}}")
        elif not groups:
            raise ValueError(f"key {self.key!r} needs 'op' and 'value', or all/any/none over its items"
                             if self.key is not None else
                             "needs either 'op' (with key and value) or exactly one of all/any/none/not")
        elif "not" in groups and self.key is not None:
            raise ValueError("'not' takes no 'key'; put the key inside")
        elif "value" in self.model_fields_set:
            raise ValueError(f"'value' needs an 'op': the conditions under '{groups[0]}' carry their own")
        return self


class DocRef(_Strict):
    file: str = Field(description="the architecture document (or 'baseline')")
    section: str | None = None
    quote: str = Field(description="the statement this rule encodes, quoted")


class RuleTest(_Strict):
    """An inline case: one resource document, or a list of them (for ``when_absent`` rules)."""

    name: str
    resource: dict[str, Any] | None = Field(None, description="a resource document as rules see it")
    resources: list[dict[str, Any]] | None = Field(None, description="several documents: the rule's "
                                                      "outcome over all of them")
    expect: Literal["pass", "fail", "skip"]
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_input(self) -> RuleTest:
        if (self.resource is None) == (self.resources is None):
            raise ValueError("give exactly one of 'resource' or 'resources'")
        return self

    @property
    def documents(self) -> list[dict[str, Any]]:
        return [self.resource] if self.resource is not None else list(self.resources or [])


class Rule(_Strict):
    id: str = Field(pattern=ID_PATTERN)
    title: str
    severity: Severity
    resource: str = Field(description="resource type, e.g. rds_instance")
    scope: list[Condition] = Field(default_factory=list, description="all must hold for the rule to apply")
    assert_: list[Condition] = Field(default_factory=list, alias="assert",
                                     description="all must hold; may be empty for an existence rule")
    when_absent: Literal["skip", "fail"] = Field(
        "skip", description="fail: no resource in scope is itself a failing finding")
    pack_selector: bool = Field(True, description="apply the pack's selector to this rule")
    doc: DocRef
    remediation: str
    tests: list[RuleTest] = Field(min_length=2)

    @model_validator(mode="after")
    def _asserts_something(self) -> Rule:
        if not self.assert_ and self.when_absent != "fail":
            raise ValueError("'assert' is empty: give conditions, or when_absent: fail for an existence rule")
        return self

    @field_validator("tests")
    @classmethod
    def _pass_and_fail(cls, tests: list[RuleTest]) -> list[RuleTest]:
        outcomes = {t.expect for t in tests}
        if not {"pass", "fail"} <= outcomes:
            raise ValueError("needs at least one test expecting pass and one expecting fail")
        return tests


class Param(_Strict):
    default: Any = None
    environments: dict[str, Any] = Field(default_factory=dict,
                                         description="value per environment (production, staging, development)")
    description: str | None = None


class OutOfScope(_Strict):
    statement: str
    section: str | None = None
    reason: str


class BudgetRow(_Strict):
    """One row of the document's cost table, held against the estimate of the services it covers."""

    item: str = Field(description="the row as the table names it, e.g. 'ECS Fargate (2 tasks)'")
    services: list[CostService] = Field(min_length=1,  # type: ignore[valid-type]
                                        description="the estimate's services this row prices")
    monthly_usd: float = Field(ge=0, description="the row's monthly figure, USD")
    quote: str = Field(description="the row, quoted from the document")
    tolerance: float | None = Field(None, ge=0, le=10, description="this row's allowed overrun, when it "
                                    "differs from the budget's (say why in note)")
    note: str | None = None


class BudgetEntry(_Strict):
    monthly_usd: float = Field(gt=0, description="the document's monthly figure for this environment, USD")
    quote: str = Field(description="the document's statement of that figure, quoted")
    rows: list[BudgetRow] = Field(default_factory=list, description="the table's rows: the total then "
                                  "compares the estimate of the services they cover, and every other "
                                  "service is reported as not itemized")

    @model_validator(mode="after")
    def _one_row_per_service(self) -> BudgetEntry:
        seen: set[str] = set()
        for row in self.rows:
            twice = seen.intersection(row.services)
            if twice:
                raise ValueError(f"services {sorted(twice)} appear in more than one row")
            seen.update(row.services)
        return self


class Budget(_Strict):
    """The documented monthly cost per environment. Each deployment's estimate becomes a
    ``deployment`` resource (see auditor.cost.deployment) that the pack's cost rules judge."""

    tolerance: float = Field(0.1, ge=0, le=10, description="allowed overrun as a fraction of a documented "
                             "figure (the total and each row)")
    section: str | None = Field(None, description="the document section holding the cost table")
    environments: dict[str, BudgetEntry] = Field(min_length=1)


class Pack(_Strict):
    pack: str = Field(pattern=ID_PATTERN)
    title: str
    document: str | None = Field(None, description="architecture document file name")
    description: str | None = None
    selector: list[Condition] = Field(default_factory=list,
                                      description="conditions every resource of this pack's rules must meet")
    params: dict[str, Param] = Field(default_factory=dict)
    out_of_scope: list[OutOfScope] = Field(default_factory=list)
    budget: Budget | None = Field(None, description="documented monthly cost per environment")
    rules: list[Rule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _params_defined(self) -> Pack:
        for i, rule in enumerate(self.rules):
            for name in _param_names([*self.selector, *rule.scope, *rule.assert_]):
                if name not in self.params:
                    raise ValueError(f"rules[{i}] ({rule.id}) uses undefined param '{name}'")
        return self


def _param_names(conditions: list[Condition]) -> set[str]:
    names: set[str] = set()
    for c in conditions:
        if is_param(c.value):
            names.add(str(c.value["param"]))
        for sub in (c.all, c.any, c.none):
            names |= _param_names(sub or [])
        if c.not_ is not None:
            names |= _param_names([c.not_])
    return names


def param_uses(conditions: list[Condition], loc: tuple) -> list[tuple[tuple, str, str]]:
    """(location, op, param name) of every ``value: {param: NAME}`` under ``conditions`` at ``loc``."""
    return [use for i, c in enumerate(conditions) for use in _param_uses(c, (*loc, i))]


def _param_uses(c: Condition, here: tuple) -> list[tuple[tuple, str, str]]:
    uses: list[tuple[tuple, str, str]] = []
    if c.op is not None and is_param(c.value):
        uses.append(((*here, "value"), c.op, str(c.value["param"])))
    for name in ("all", "any", "none"):
        uses += param_uses(getattr(c, name) or [], (*here, name))
    if c.not_ is not None:
        uses += _param_uses(c.not_, (*here, "not"))
    return uses


OPERATOR_DOCS = {
    "eq": "equal; a boolean never equals a number, 5 equals 5.0",
    "ne": "not equal (as eq); holds when the key is missing",
    "lt": "a number (or numeric string) less than the value; false for anything else",
    "le": "a number (or numeric string) at most the value; false for anything else",
    "gt": "a number (or numeric string) greater than the value; false for anything else",
    "ge": "a number (or numeric string) at least the value; false for anything else",
    "in": "equal (as eq) to one item of the value, a list",
    "not_in": "equal (as eq) to no item of the value, a list; holds when the key is missing",
    "contains": "a string holding the value as a substring, a list holding it as an item, or an object "
                "holding it as a key",
    "not_contains": "the opposite of contains; holds when the key is missing",
    "subset": "every item (a single value: itself) is in the value, a list; false when the key is missing",
    "superset": "every item of the value, a list, is among the items (a single value: itself); false when the "
                "key is missing",
    "exists": "value true: the key has a value (not null); value false: it has none",
    "empty": "value true: null, or a string, list or object of length 0; value false: anything else",
    "length_eq": "a string, list or object whose length (characters, items, keys) is the value; false for "
                 "anything else",
    "length_ge": "a string, list or object whose length (characters, items, keys) is at least the value; false "
                 "for anything else",
    "length_le": "a string, list or object whose length (characters, items, keys) is at most the value; false "
                 "for anything else",
    "regex": "a string in which the regular expression matches somewhere (anchor it with ^ and $ for the "
             "whole string); false for anything else",
    "starts_with": "a string starting with the value",
    "version_eq": "the version's numbers start with the value's: '8.0' matches 8.0 and 8.0.35 but not 8.4 or 8; "
                  "'8' matches any 8.x (numbers are the runs of digits: 8.0.35-r1 is 8.0.35.1; quote the value, "
                  "as YAML reads 8.10 as 8.1)",
    "version_ge": "the version's numbers compared one by one with the value's: 8.0.35 >= '8.0', 16.1 >= '15.4', "
                  "and when one runs out first it is the lower: 8 < '8.0' (quote the value, as YAML reads 8.10 as 8.1)",
    "cidr_within": "a CIDR block or address inside the value's block: 10.0.1.0/24 and 10.0.0.5 are within "
                   "'10.0.0.0/16' (host bits ignored); false across IPv4 and IPv6 or for anything else",
}
"""What each operator means, for the JSON Schema (the operators themselves: :mod:`auditor.rules.operators`)."""


def export_json_schema() -> dict[str, Any]:
    """The rule-file JSON Schema, with the resource types and operators enumerated and described for editors."""
    # imported here: they load the collectors, which validating rules does not need
    from ..audit import known_resource_types
    from ..collect import resource_types
    from ..deployments import DERIVED

    described = {name: f"{t.service}: {t.arn}" for name, t in resource_types().items()}
    described[DERIVED] = "derived by the audit, one per deployment: its pack, budget and cost estimate"
    types = sorted(known_resource_types())
    schema = Pack.model_json_schema(by_alias=True)
    schema["$defs"]["Rule"]["properties"]["resource"].update(enum=types,
                                                             enumDescriptions=[described[t] for t in types])
    op = schema["$defs"]["Condition"]["properties"]["op"]["anyOf"][0]
    op["enumDescriptions"] = [OPERATOR_DOCS[name] for name in op["enum"]]
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://auditor.invalid/schemas/rules.schema.json"
    schema["title"] = "auditor rule pack"
    return schema

