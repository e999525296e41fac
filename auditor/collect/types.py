"""One declarative description per resource type, declared by its collector module.

The rest of the auditor reads these descriptions instead of a table of its own: the IAM policy
(``calls``), change detection (``volatile``, ``transient``), the rule-key check (``attributes``),
the alarm relations (``alarms``), deployment membership (``owns``, ``contains``) and the cost
estimate (``cost``). docs/adding-a-resource-type.md walks through an addition.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

from ..attributes import Shape


@dataclass(frozen=True)
class Dimensions:
    """How a CloudWatch alarm names a resource: the metric's ``namespace`` (where AWS publishes it;
    an alarm matches by its dimensions in any namespace, so Container Insights alarms count too),
    each dimension and the attribute that gives its value (``id``: the resource id; a list attribute:
    any of its items), and the dimensions that name a narrower resource (``forbidden``: an alarm on
    one target group of a load balancer does not watch the load balancer)."""

    namespace: str
    dimensions: Mapping[str, str]
    forbidden: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.dimensions:
            raise ValueError(f"alarms in {self.namespace} name a resource by one dimension at least")


@dataclass(frozen=True)
class Edge:
    """A deployment membership edge from a resource to resources of ``type``: those whose ids it lists
    in ``attribute``, with ``back`` those whose ``attribute`` holds its id, or with ``via`` those that
    :data:`auditor.deployments.VIA` finds under that name (through relations or naming conventions)."""

    type: str
    attribute: str | None = None
    back: bool = False
    via: str | None = None

    def __post_init__(self) -> None:
        if (self.attribute is None) == (self.via is None):
            raise ValueError(f"an edge to {self.type} names an attribute or a via, one of them")


@dataclass(frozen=True)
class ResourceType:
    """What the auditor knows about one resource type besides how to collect it.

    ``arn`` is the ARN pattern ({partition}, {region}, {account}, then the resource's own parts);
    ``calls`` the operations of ``service`` its collector makes (botocore names, which are the IAM
    actions); ``transient``: AWS creates and deletes these on its own, so they serve relations, never
    change detection; ``cost``: the cost service label of its estimate lines (None: not priced).
    """

    name: str
    service: str
    arn: str
    calls: tuple[str, ...]
    attributes: Shape
    volatile: tuple[str, ...] = ()
    transient: bool = False
    alarms: tuple[Dimensions, ...] = ()
    owns: tuple[Edge, ...] = ()
    contains: tuple[Edge, ...] = ()
    cost: str | None = None

    def format_arn(self, **parts: str) -> str:
        """The ARN of one resource from its parts, e.g. ``format_arn(partition=..., region=..., ...)``."""
        return self.arn.format(**parts)

    @cached_property
    def arn_regex(self) -> re.Pattern[str]:
        """What the ARNs of this type look like (the last part may hold ``/`` and ``:``)."""
        pieces = re.split(r"(\{\w+\})", self.arn)
        last = max(i for i, p in enumerate(pieces) if p.startswith("{"))
        regex = []
        for i, piece in enumerate(pieces):
            if not piece.startswith("{"):
                regex.append(re.escape(piece))
            else:
                regex.append(".+" if i == last else _PARTS.get(piece, "[^:/]+"))
        return re.compile("".join(regex) + "$")


_PARTS = {"{partition}": "aws[a-z-]*", "{region}": "[a-z0-9-]*", "{account}": "[0-9]{12}"}
