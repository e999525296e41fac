"""``auditor iam-policy`` (auditor.iam): the policy grants every AWS call that a full audit of each
documented architecture makes (recorded with a botocore hook, per collector), every call a resource
type's description declares is one its collector makes, the policy reads only, and
docs/iam-policy.json is the generated policy."""
from __future__ import annotations

import importlib.util
import json
import re
import threading
from dataclasses import replace
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import boto3
import botocore.handlers
import pytest
from cli_runner import run

from auditor.audit import AuditOptions, run_audit
from auditor.aws import AwsContext
from auditor.collect import REGISTRY, load_all, resource_types
from auditor.cost.refresh import PriceRefreshError, listed_regions, refresh_region
from auditor.cost.spend import SpendReader
from auditor.emulated.architectures import ENVIRONMENTS
from auditor.iam import EXTRAS, REQUIRED_SID, ROLE_PLACEHOLDER, SECRET_PLACEHOLDER, action, policy
from auditor.notify.secrets import secretsmanager_reader
from auditor.notify.slack.config import SlackConfig
from auditor.notify.slack.credentials import resolve
from auditor.notify.webhook.channel import WebhookChannel
from auditor.notify.webhook.config import WebhookConfig

DOCS_POLICY = Path(__file__).resolve().parents[1] / "docs" / "iam-policy.json"
# The docs file and the ECS template: no Slack secret (ECS injects it).
DOCS_EXTRAS = ("cost-explorer", "pricing", "assume-role", "organizations")
NO_PERMISSION_NEEDED = {"sts:GetCallerIdentity"}
# Declared calls that no emulated audit makes, with the reason (none today).
NOT_EXERCISED: dict[str, str] = {}
READ_VERBS = ("Describe", "List", "Get")
ROLE_ARN = "arn:aws:iam::210987654321:role/auditor-read-only"
SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:auditor/slack-bot-token-AbC123"


def actions(document: dict, sid: str | None = None) -> set[str]:
    return {a for s in document["Statement"] if sid in (None, s["Sid"]) for a in s["Action"]}


@pytest.fixture(scope="module")
def audits(tmp_path_factory) -> dict[str, set[tuple[str | None, str]]]:
    """By architecture: (collector name or None outside collectors, IAM action) of every call of a full
    audit (with Cost Explorer spend) of its first documented environment."""
    from auditor.emulated.demo import emulated_account

    current = threading.local()

    def tracked(c):
        def fn(ctx):
            current.name = c.name
            try:
                return list(c.fn(ctx))
            finally:
                current.name = None
        return replace(c, fn=fn)

    def recorder(calls: set):
        def record(model, **_):
            calls.add((getattr(current, "name", None), action(model.service_model.service_name, model.name)))
        return record

    recorded: dict[str, set[tuple[str | None, str]]] = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))   # the bundled prices only
        mp.delenv("AUDITOR_COST__PRICES", raising=False)
        for name, c in load_all().items():
            mp.setitem(REGISTRY, name, tracked(c))
        for architecture, environments in ENVIRONMENTS.items():
            with emulated_account(architecture, environments[0]) as aws:
                aws.session.events.register("before-call.*.*", recorder(recorded.setdefault(architecture, set())))
                run_audit(AuditOptions(architecture=architecture), aws=aws, spend=SpendReader())
    return recorded


@pytest.mark.slow   # the audits fixture builds every architecture
def test_every_call_of_each_architecture_audit_is_granted(audits):
    full = actions(policy(None, ["cost-explorer"]))
    for architecture, calls in audits.items():
        made = {a for _, a in calls} - NO_PERMISSION_NEEDED
        assert made - actions(policy(architecture, ["cost-explorer"])) == set(), architecture
        assert made - full == set(), architecture
        assert {a for c, a in calls if c is None} <= NO_PERMISSION_NEEDED | {"ce:GetCostAndUsage"}
    assert any("ce:GetCostAndUsage" in {a for _, a in calls} for calls in audits.values())


def _declared(collector_name: str) -> set[str]:
    """The IAM actions that the descriptions of a collector's types declare."""
    types = resource_types()
    return {action(types[t].service, op) for t in REGISTRY[collector_name].produces for op in types[t].calls}


@pytest.mark.slow   # the audits fixture builds every architecture
def test_each_collector_calls_only_what_its_types_declare(audits):
    undeclared = {(name, made) for calls in audits.values() for name, made in calls
                  if name and made not in _declared(name)}
    assert undeclared == set()


@pytest.mark.slow   # the audits fixture builds every architecture
def test_every_declared_call_is_made_by_some_audit(audits):
    declared = {action(t.service, op) for t in resource_types().values() for op in t.calls}
    made = {a for calls in audits.values() for _, a in calls}
    assert declared - made == set(NOT_EXERCISED)
    assert declared == {a for name in load_all() for a in _declared(name)}


def test_price_list_refresh_calls_only_what_pricing_grants():
    """No moto Price List API: the hook answers every page with an empty list (a region, then every
    region the API lists: --all-regions)."""
    aws = AwsContext(region="us-east-1")
    aws.session.events.register("before-call.pricing.*", lambda **_: (
        SimpleNamespace(status_code=200, headers={}), {"PriceList": [], "FormatVersion": "aws_v1", "AttributeValues": []}))
    for refresh in (lambda client: refresh_region(client, "us-east-1", date(2026, 1, 1)), listed_regions):
        try:
            refresh(aws.client("pricing"))
        except PriceRefreshError:
            pass   # empty answers may leave prices missing: only the calls matter here
    assert {action(s, op) for s, op in aws.stats.calls} == actions(policy(extras=["pricing"]), "AuditorPriceListOptional")


def test_channel_secret_reads_call_only_what_channel_secrets_grants(account, monkeypatch):
    client = boto3.client("secretsmanager")
    slack = client.create_secret(Name="auditor/slack", SecretString="xoxb-not-a-real-token")
    hook = client.create_secret(Name="auditor/webhook", SecretString='{"token": "not-a-real-bearer"}')
    made = set()
    monkeypatch.setattr(botocore.handlers, "BUILTIN_HANDLERS", [*botocore.handlers.BUILTIN_HANDLERS, (
        "before-call.*.*", lambda model, **_: made.add(action(model.service_model.service_name, model.name)))])
    credential = resolve(SlackConfig(enabled=True, token_secret=slack["ARN"]), {}, secretsmanager_reader("us-east-1"))
    assert credential.reveal() == "xoxb-not-a-real-token"
    webhook = WebhookChannel(WebhookConfig(enabled=True, url="https://hooks.example.test/in", token_secret=hook["ARN"]),
                             environ={}, read_secret=secretsmanager_reader("us-east-1"))
    assert webhook.transport() is not None
    assert made == actions(policy(extras=["channel-secrets"]), "AuditorChannelSecretsOptional")


@pytest.mark.parametrize("architecture", [None, *ENVIRONMENTS])
def test_policy_only_reads(architecture):
    document = policy(architecture, list(EXTRAS))
    assert document["Version"] == "2012-10-17"
    sids = [s["Sid"] for s in document["Statement"]]
    assert sids == [REQUIRED_SID, *(e.sid for e in EXTRAS.values())]
    assert all(re.fullmatch(r"[A-Za-z0-9]+", sid) for sid in sids)
    placeholders = {EXTRAS["channel-secrets"].sid: SECRET_PLACEHOLDER, EXTRAS["assume-role"].sid: ROLE_PLACEHOLDER}
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow" and statement["Action"] == sorted(set(statement["Action"]))
        # sts:AssumeRole grants what the audited account's role grants: the read-only statement (audit-role.yaml)
        assert all(a.split(":")[1].startswith(READ_VERBS) or a == "sts:AssumeRole" for a in statement["Action"])
        assert ("sts:AssumeRole" in statement["Action"]) is (statement["Sid"] == EXTRAS["assume-role"].sid)
        assert not any(re.match(r"ssm:GetParameter|kms:Decrypt$|s3:GetObject$", a) for a in statement["Action"])
        secret = statement["Sid"] == EXTRAS["channel-secrets"].sid
        assert ("secretsmanager:GetSecretValue" in statement["Action"]) is secret
        assert statement["Resource"] == placeholders.get(statement["Sid"], "*")
    assert actions(policy(architecture)) <= actions(policy())


def test_docs_policy_is_the_generated_one():
    assert json.loads(DOCS_POLICY.read_text()) == policy(None, DOCS_EXTRAS)


def _sync_script():
    spec = importlib.util.spec_from_file_location("iam_policy_script", DOCS_POLICY.parents[1] / "scripts" / "iam_policy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_published_policy_files_are_what_the_script_writes():
    """docs/iam-policy.json and the templates' read-only statement: one command updates all three."""
    script = _sync_script()
    files = script.outputs()
    assert set(files) == {DOCS_POLICY, *script.TEMPLATES} and script.DOCS_EXTRAS == DOCS_EXTRAS
    stale = [str(path) for path, text in files.items() if path.read_text() != text]
    assert not stale, f"stale {stale}: run .venv/bin/python scripts/iam_policy.py"


def test_the_script_rewrites_only_the_read_only_actions():
    script = _sync_script()
    template = script.TEMPLATES[0].read_text()
    shortened = template.replace("                  - ec2:DescribeVpcEndpoints\n", "")
    assert shortened != template
    assert script._read_only_actions(shortened, policy(None)["Statement"][0]["Action"], script.TEMPLATES[0]) == template
    with pytest.raises(SystemExit, match="audit-role.yaml: expected one '- Sid: AuditorReadOnly'"):
        script._read_only_actions(template.replace("Sid: AuditorReadOnly", "Sid: Other"), [], script.TEMPLATES[0])


def test_cli_prints_the_policy(capsys):
    code, out, err = run(capsys, "iam-policy", "--with", ",".join(DOCS_EXTRAS))
    assert (code, err) == (0, "") and out == DOCS_POLICY.read_text()
    other = SECRET_ARN.replace("auditor/slack", "auditor/webhook")
    code, out, _ = run(capsys, "iam-policy", "-a", "portfolio", "--with", "pricing", "--secret-arn", SECRET_ARN,
                       "--secret-arn", other)
    assert code == 0 and json.loads(out) == policy("portfolio", ["pricing", "channel-secrets"], [SECRET_ARN, other])
    assert json.loads(out)["Statement"][-1]["Resource"] == sorted([SECRET_ARN, other])
    code, out, _ = run(capsys, "iam-policy", "--role-arn", ROLE_ARN, "--role-arn", ROLE_ARN)
    assert code == 0 and json.loads(out)["Statement"][-1] == {
        "Sid": "AuditorAssumeRoleOptional", "Effect": "Allow", "Action": ["sts:AssumeRole"], "Resource": [ROLE_ARN]}


@pytest.mark.parametrize("args, message", [
    (["-a", "nope"], "unknown architecture 'nope'"),
    (["--with", "pricing,s3"], "unknown item s3"),
    (["--secret-arn", "auditor/slack"], "not a Secrets Manager secret ARN"),
    (["--role-arn", "auditor-read-only"], "not an IAM role ARN"),
])
def test_cli_errors_on_one_line(capsys, args, message):
    code, out, err = run(capsys, "iam-policy", *args)
    assert code == 2 and out == "" and len(err.splitlines()) == 1
    assert err.startswith("error: ") and message in err
