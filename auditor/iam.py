"""The least-privilege IAM policy of the auditor (``auditor iam-policy``), derived from the calls each
resource type's description declares (``calls`` of :class:`auditor.collect.types.ResourceType`), plus
optional statements for the calls made outside collectors. sts:GetCallerIdentity needs no permission.

Auditing other accounts (``targets``) adds ``assume-role`` (sts:AssumeRole on the roles to assume)
and, with ``targets.organization``, ``organizations`` (organizations:ListAccounts) to the auditor's
own role; each audited account holds a role with the read-only statement (deploy/audit-role.yaml).
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from .audit import audited_types, load_ruleset
from .collect import resource_types

# botocore service names whose IAM prefix differs; the operation names are the IAM action names.
IAM_PREFIX = {"elbv2": "elasticloadbalancing"}
REQUIRED_SID = "AuditorReadOnly"
# secretsmanager:GetSecretValue on this when no --secret-arn is given: to be replaced (the README says how).
SECRET_PLACEHOLDER = "arn:aws:secretsmanager:REGION:ACCOUNT_ID:secret:SECRET_NAME-??????"
# sts:AssumeRole on this when no --role-arn is given: the audit role's name in every account.
ROLE_PLACEHOLDER = "arn:aws:iam::*:role/ROLE_NAME"


class Extra(NamedTuple):
    sid: str
    service: str
    calls: tuple[str, ...]


EXTRAS = {   # what `--with` adds, in statement order
    "cost-explorer": Extra("AuditorCostExplorerOptional", "ce", ("GetCostAndUsage",)),   # cost/spend.py
    "pricing": Extra("AuditorPriceListOptional", "pricing", ("GetAttributeValues", "GetProducts")),   # cost/refresh.py
    "channel-secrets": Extra("AuditorChannelSecretsOptional", "secretsmanager", ("GetSecretValue",)),   # notify/secrets.py
    "assume-role": Extra("AuditorAssumeRoleOptional", "sts", ("AssumeRole",)),                 # targets.py
    "organizations": Extra("AuditorOrganizationsOptional", "organizations", ("ListAccounts",)),  # targets.py
}


def action(service: str, operation: str) -> str:
    """The IAM action of a botocore service's operation, e.g. ``elasticloadbalancing:DescribeTags``."""
    return f"{IAM_PREFIX.get(service, service)}:{operation}"


def _statement(sid: str, actions: Iterable[str], resource: str | list[str] = "*") -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": sorted(set(actions)), "Resource": resource}


def policy(architecture: str | None = None, extras: Iterable[str] = (), secret_arns: Iterable[str] = (),
           role_arns: Iterable[str] = ()) -> dict[str, Any]:
    """The policy an audit needs: of ``architecture`` (its rule set's collectors) or of any audit,
    with the optional statements of ``extras`` (keys of EXTRAS; ``secret_arns`` scope channel-secrets,
    ``role_arns`` scope assume-role). Raises ValueError for an unknown extra, RuleFileError for an
    unknown architecture."""
    unknown = [e for e in extras if e not in EXTRAS]
    if unknown:
        raise ValueError(f"unknown {', '.join(unknown)} (known: {', '.join(EXTRAS)})")
    types = audited_types(load_ruleset(architecture)) if architecture else None
    statements = [_statement(REQUIRED_SID, (action(t.service, op) for t in resource_types().values()
                                            if types is None or t.name in types for op in t.calls))]
    resources: dict[str, Any] = {"channel-secrets": sorted(set(secret_arns)) or SECRET_PLACEHOLDER,
                                 "assume-role": sorted(set(role_arns)) or ROLE_PLACEHOLDER}
    for name, extra in EXTRAS.items():
        if name in extras:
            statements.append(_statement(extra.sid, (action(extra.service, op) for op in extra.calls),
                                         resources.get(name, "*")))
    return {"Version": "2012-10-17", "Statement": statements}
