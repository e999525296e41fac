"""Audit targets: accounts (roles to assume, or AWS Organizations members) × regions, and shards of them."""
from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.session
from botocore.credentials import AssumeRoleCredentialFetcher, DeferredRefreshableCredentials
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .aws import AWS_ERRORS, AuditSetupError, error_code, error_message
from .yaml_lines import YamlFileError, read_yaml, validation_problems

ROLE_ARN = re.compile(r"arn:([a-z][a-z0-9-]*):iam::(\d{12}):role/(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}")
ACCOUNT_ID = re.compile(r"\d{12}")
REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}")
SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}")
EXTERNAL_ID = re.compile(r"[\w+=,.@:/-]{2,1224}")
ROLE_NAME = re.compile(r"[\w+=,.@-]{1,64}")
MAX_CONCURRENT = 32
_DEEPEST = 4   # the deepest field of a targets file: targets.accounts[N].key


class _Spec(BaseModel):
    # hide_input_in_errors: an external id put in the wrong key must not be echoed in errors
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True, frozen=True)


def _account_id(value: str) -> str:
    if not ACCOUNT_ID.fullmatch(value):
        raise ValueError("an account id is 12 digits")
    return value


class _AssumeOptions(_Spec):
    external_id: str | None = Field(default=None, repr=False)
    session_name: str = "auditor"
    duration_seconds: int = Field(default=3600, ge=900, le=43200)

    @field_validator("external_id")
    @classmethod
    def _external_id(cls, value: str | None) -> str | None:
        if value is not None and not EXTERNAL_ID.fullmatch(value):
            raise ValueError("an external id is 2-1224 characters of letters, digits and +=,.@:/-")
        return value

    @field_validator("session_name")
    @classmethod
    def _session_name(cls, value: str) -> str:
        if not SESSION_NAME.fullmatch(value):
            raise ValueError("a session name is 2-64 characters of letters, digits and +=,.@_-")
        return value


class RoleSpec(_AssumeOptions):
    """An IAM role to assume with STS; its account is the one audited."""

    role_arn: str

    @field_validator("role_arn")
    @classmethod
    def _role_arn(cls, value: str) -> str:
        if not ROLE_ARN.fullmatch(value):
            raise ValueError("not an IAM role ARN (arn:<partition>:iam::<12-digit account>:role/<name>)")
        return value

    @property
    def account(self) -> str:
        return self.role_arn.split(":")[4]


class OrganizationSpec(_AssumeOptions):
    """Member accounts discovered with organizations:ListAccounts, each audited through ``role_name``."""

    role_name: str = "OrganizationAccountAccessRole"
    include: list[str] = []             # empty: every ACTIVE member
    exclude: list[str] = []
    include_management: bool = False    # audit the caller's (management) account with its own credentials

    @field_validator("role_name")
    @classmethod
    def _role_name(cls, value: str) -> str:
        if not ROLE_NAME.fullmatch(value):
            raise ValueError("a role name is 1-64 characters of letters, digits and +=,.@_-")
        return value

    @field_validator("include", "exclude")
    @classmethod
    def _accounts(cls, value: list[str]) -> list[str]:
        return [_account_id(v) for v in value]


class TargetsConfig(_Spec):
    """What to audit: accounts × regions, optionally one shard of them."""

    regions: list[str] = []             # empty: the base session's region
    accounts: list[RoleSpec] = []       # empty and no organization: the base credentials' own account
    organization: OrganizationSpec | None = None
    max_concurrent: int = Field(default=4, ge=1, le=MAX_CONCURRENT)
    shard: str | None = None            # "I/N"

    @field_validator("regions")
    @classmethod
    def _regions(cls, value: list[str]) -> list[str]:
        for region in value:
            if not REGION.fullmatch(region):
                raise ValueError(f"{region!r} is not a region name (e.g. eu-west-1)")
        return list(dict.fromkeys(value))

    @field_validator("organization", mode="before")
    @classmethod
    def _organization(cls, value: Any) -> Any:
        """``organization: true`` is the default organization settings, ``false`` none."""
        if isinstance(value, bool):
            return {} if value else None
        return value

    @field_validator("shard")
    @classmethod
    def _shard(cls, value: str | None) -> str | None:
        if value is not None:
            parse_shard(value)
        return value

    @model_validator(mode="after")
    def _distinct_accounts(self) -> TargetsConfig:
        seen: set[str] = set()
        for spec in self.accounts:
            if spec.account in seen:
                raise ValueError(f"account {spec.account} is listed twice in accounts")
            seen.add(spec.account)
        return self


class TargetsFileError(Exception):
    """An unusable targets file; ``problems`` holds one ``FILE:LINE: targets.FIELD: message`` each."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def validation_message(err: Any) -> str:
    """A pydantic error's message without pydantic's prefix; never the refused input (it may be an external id)."""
    return "unknown key" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")


def load_targets(path: Path) -> TargetsConfig:
    """The ``targets:`` mapping of a YAML file (other top-level keys, e.g. a daemon's settings, are
    left alone). Raises TargetsFileError naming the file, line and field of each problem."""
    try:
        data, lines = read_yaml(path)
    except YamlFileError as exc:
        raise TargetsFileError([str(exc)]) from exc
    if not isinstance(data, dict) or not isinstance(data.get("targets"), dict):
        line = lines.get(("targets",), 1)
        raise TargetsFileError([f"{path}:{line}: targets: expected a mapping under a top-level 'targets:' key"])
    try:
        return TargetsConfig.model_validate(data["targets"])
    except ValidationError as exc:
        unknown_key = {("extra_forbidden", depth): "unknown key" for depth in range(2, _DEEPEST + 1)}
        raise TargetsFileError(validation_problems(path, exc, lines, unknown_key, prefix=("targets",))) from exc


@dataclass(frozen=True)
class Target:
    """One account in one region; ``role`` None: audited with the base credentials."""

    account: str
    region: str
    role: RoleSpec | None = None

    @property
    def key(self) -> str:
        return f"{self.account}/{self.region}"


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` as (I, N), 1 <= I <= N; ValueError otherwise."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match:
        raise ValueError(f"shard {text!r} is not I/N (e.g. 2/3)")
    index, count = int(match[1]), int(match[2])
    if not 1 <= index <= count:
        raise ValueError(f"shard {text!r}: I must be between 1 and N")
    return index, count


def shard_of(account: str, region: str, count: int) -> int:
    """The shard (1..count) an account × region belongs to: the same in every process and release."""
    digest = hashlib.sha256(f"{account}/{region}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def resolve(config: TargetsConfig, base: boto3.Session, *, default_region: str | None = None,
            endpoint_url: str | None = None) -> list[Target]:
    """Every account × region of ``config`` in this shard, sorted by key. Raises AuditSetupError when
    STS or Organizations cannot answer, or an included account is no ACTIVE member."""
    regions = config.regions or [r for r in (default_region or base.region_name,) if r]
    if not regions:
        raise AuditSetupError("no AWS region: pass --region or set AWS_REGION / AWS_DEFAULT_REGION")
    accounts: dict[str, RoleSpec | None] = {spec.account: spec for spec in config.accounts}
    if config.organization is not None:
        for account, role in _organization_accounts(config.organization, base, regions[0], endpoint_url):
            accounts.setdefault(account, role)
    elif not accounts:
        accounts[_caller_arn(base, regions[0], endpoint_url).split(":")[4]] = None
    targets = [Target(account, region, role) for account, role in accounts.items() for region in regions]
    if config.shard is not None:
        index, count = parse_shard(config.shard)
        targets = [t for t in targets if shard_of(t.account, t.region, count) == index]
    return sorted(targets, key=lambda t: t.key)


def _client(base: boto3.Session, service: str, region: str, endpoint_url: str | None):
    return base.client(service, region_name=base.region_name or region, endpoint_url=endpoint_url)


def _caller_arn(base: boto3.Session, region: str, endpoint_url: str | None) -> str:
    try:
        return _client(base, "sts", region, endpoint_url).get_caller_identity()["Arn"]
    except AWS_ERRORS as exc:
        raise AuditSetupError(f"cannot identify the AWS account (sts:GetCallerIdentity): "
                              f"{error_code(exc)}: {error_message(exc)}") from exc


def _organization_accounts(spec: OrganizationSpec, base: boto3.Session, region: str,
                           endpoint_url: str | None) -> list[tuple[str, RoleSpec | None]]:
    """ACTIVE members after include/exclude, each with the role to assume (None: the caller's own)."""
    _, partition, _, _, caller, _ = _caller_arn(base, region, endpoint_url).split(":", 5)
    try:
        pages = _client(base, "organizations", region, endpoint_url).get_paginator("list_accounts").paginate()
        members = [a["Id"] for page in pages for a in page["Accounts"]
                   if a.get("State", a.get("Status")) == "ACTIVE"]   # State replaces the deprecated Status
    except AWS_ERRORS as exc:
        raise AuditSetupError(f"cannot list the organization's accounts (organizations:ListAccounts): "
                              f"{error_code(exc)}: {error_message(exc)}") from exc
    missing = sorted(set(spec.include) - set(members))
    if missing:
        raise AuditSetupError(f"organization include: {', '.join(missing)} not ACTIVE members of the organization")
    chosen = [a for a in members if (not spec.include or a in spec.include) and a not in spec.exclude]
    options = spec.model_dump(include={"external_id", "session_name", "duration_seconds"})
    return [(account, None) if account == caller else
            (account, RoleSpec(role_arn=f"arn:{partition}:iam::{account}:role/{spec.role_name}", **options))
            for account in chosen if account != caller or spec.include_management]


def session_for(target: Target, base: boto3.Session, *, endpoint_url: str | None = None) -> boto3.Session:
    """``base`` itself for the base credentials; else a session in ``target.region`` whose credentials
    assume ``target.role`` on first use and again before they expire (botocore's refreshable credentials).
    AssumeRole failures surface at the first call made with the session."""
    if target.role is None:
        return base
    source = base.get_credentials()
    if source is None:
        raise AuditSetupError("no AWS credentials to assume roles with: configure the standard credential chain")
    core = botocore.session.Session(profile=base._session.profile)   # the same config file settings
    extra: dict[str, Any] = {"RoleSessionName": target.role.session_name,
                             "DurationSeconds": target.role.duration_seconds}
    if target.role.external_id is not None:
        extra["ExternalId"] = target.role.external_id
    fetcher = AssumeRoleCredentialFetcher(
        functools.partial(core.create_client, region_name=base.region_name or target.region, endpoint_url=endpoint_url),
        source, target.role.role_arn, extra_args=extra)
    core._credentials = DeferredRefreshableCredentials(fetcher.fetch_credentials, "assume-role")
    return boto3.Session(botocore_session=core, region_name=target.region)


def own_session(base: boto3.Session, region: str) -> boto3.Session:
    """A session of its own (events, clients) in ``region`` sharing ``base``'s credentials, so that
    concurrent audits with the base credentials keep their API statistics apart."""
    core = botocore.session.Session(profile=base._session.profile)
    core._credentials = base.get_credentials()
    return boto3.Session(botocore_session=core, region_name=region)
