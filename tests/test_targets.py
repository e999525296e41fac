"""Targets: validation, shards, Organizations discovery and assumed-role sessions under moto."""
from __future__ import annotations

import json

import boto3
import jsonschema
import pytest
from botocore.credentials import DeferredRefreshableCredentials
from cli_runner import REPORT_SCHEMA, audit
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ec2.models import ec2_backends
from pydantic import ValidationError

from auditor.aws import AuditSetupError
from auditor.targets import (
    OrganizationSpec,
    RoleSpec,
    Target,
    TargetsConfig,
    parse_shard,
    resolve,
    session_for,
    shard_of,
)

OTHER = "111111111111"
ROLE = f"arn:aws:iam::{OTHER}:role/auditor"


def _errors(data: dict) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        TargetsConfig.model_validate(data)
    return {".".join(str(p) for p in e["loc"]): e["msg"] for e in info.value.errors()}


def test_validation_names_each_bad_field():
    errors = _errors({"regions": ["EU"], "max_concurrent": 0, "shard": "4/3", "colour": 1,
                      "accounts": [{"role_arn": "arn:aws:iam::12:role/x"},
                                   {"role_arn": ROLE, "session_name": "a b", "duration_seconds": 60}],
                      "organization": {"include": ["12"], "role_name": ""}})
    assert "not a region name" in errors["regions"]
    assert "greater than or equal to 1" in errors["max_concurrent"]
    assert "I must be between 1 and N" in errors["shard"]
    assert errors["colour"] == "Extra inputs are not permitted"
    assert "not an IAM role ARN" in errors["accounts.0.role_arn"]
    assert "session name" in errors["accounts.1.session_name"]
    assert "greater than or equal to 900" in errors["accounts.1.duration_seconds"]
    assert "12 digits" in errors["organization.include"]
    assert "role name" in errors["organization.role_name"]
    assert "listed twice" in str(_errors({"accounts": [{"role_arn": ROLE}, {"role_arn": ROLE + "2"}]}))


def test_external_id_is_never_echoed():
    with pytest.raises(ValidationError) as info:
        RoleSpec(role_arn=ROLE, external_id="not allowed!")
    assert "not allowed!" not in str(info.value)
    spec = RoleSpec(role_arn="arn:aws-cn:iam::111111111111:role/team/auditor", external_id="s3cret")
    assert "s3cret" not in repr(spec) and "s3cret" not in repr(Target(spec.account, "cn-north-1", spec))
    assert spec.account == OTHER


def test_organization_true_and_defaults():
    config = TargetsConfig.model_validate({"organization": True, "regions": ["eu-west-1", "eu-west-1"]})
    assert config.organization == OrganizationSpec() and config.regions == ["eu-west-1"]
    assert TargetsConfig.model_validate({"organization": False}).organization is None


@pytest.mark.parametrize("text", ["", "1", "0/3", "4/3", "a/b", "1/0"])
def test_parse_shard_refuses(text):
    with pytest.raises(ValueError, match="shard"):
        parse_shard(text)


def test_shards_partition_targets_stably_and_evenly():
    keys = [(f"{n:012d}", region) for n in range(50) for region in ("us-east-1", "eu-west-1")]
    shards = [shard_of(account, region, 3) for account, region in keys]
    assert shards == [shard_of(account, region, 3) for account, region in keys]   # deterministic
    assert set(shards) == {1, 2, 3} and all(20 <= shards.count(i) <= 46 for i in (1, 2, 3))
    assert parse_shard(" 2/3 ") == (2, 3)
    assert shard_of("123456789012", "us-east-1", 1) == 1


def _organization(members: int) -> list[str]:
    org = boto3.client("organizations", region_name="us-east-1")
    org.create_organization(FeatureSet="ALL")
    return [org.create_account(AccountName=f"m{n}", Email=f"m{n}@example.com")["CreateAccountStatus"]["AccountId"]
            for n in range(members)]


def test_base_credentials_and_shards():
    with mock_aws():
        base = boto3.Session(region_name="us-east-1")
        assert resolve(TargetsConfig(), base) == [Target(DEFAULT_ACCOUNT_ID, "us-east-1")]
        config = TargetsConfig(regions=["us-west-2", "eu-west-1"], accounts=[RoleSpec(role_arn=ROLE)])
        targets = resolve(config, base)
        assert [t.key for t in targets] == [f"{OTHER}/eu-west-1", f"{OTHER}/us-west-2"]
        assert all(t.role == RoleSpec(role_arn=ROLE) for t in targets)
        split = [resolve(config.model_copy(update={"shard": f"{i}/2"}), base) for i in (1, 2)]
        assert sorted(t.key for part in split for t in part) == [t.key for t in targets]


def test_organization_discovery_with_include_exclude():
    with mock_aws():
        members = _organization(3)
        base = boto3.Session(region_name="us-east-1")
        config = TargetsConfig(regions=["us-east-1"], organization=OrganizationSpec(
            exclude=[members[1]], external_id="ext-id", role_name="Audit"))
        targets = resolve(config, base)
        assert [t.account for t in targets] == sorted([members[0], members[2]])   # not the management account
        assert targets[0].role.role_arn == f"arn:aws:iam::{targets[0].account}:role/Audit"
        assert targets[0].role.external_id == "ext-id"

        config = TargetsConfig(regions=["us-east-1"], organization=OrganizationSpec(
            include=[members[2], DEFAULT_ACCOUNT_ID], include_management=True))
        assert resolve(config, base) == sorted([
            Target(DEFAULT_ACCOUNT_ID, "us-east-1"),
            Target(members[2], "us-east-1", RoleSpec(role_arn=f"arn:aws:iam::{members[2]}:role/"
                                                     "OrganizationAccountAccessRole"))], key=lambda t: t.key)

        with pytest.raises(AuditSetupError, match="222222222222 not ACTIVE members"):
            resolve(TargetsConfig(organization=OrganizationSpec(include=["222222222222"])), base)


class _Denied:
    status_code = 400


def _deny(**_kwargs):
    """botocore ``before-call`` hook: the answer of a caller without the permission."""
    return _Denied(), {"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}, "ResponseMetadata": {}}


def test_organization_failure_is_a_setup_error():
    with mock_aws():
        _organization(1)
        base = boto3.Session(region_name="us-east-1")
        base.events.register("before-call.organizations.ListAccounts", _deny)
        with pytest.raises(AuditSetupError, match=r"organizations:ListAccounts\): AccessDeniedException: not allowed"):
            resolve(TargetsConfig(organization=OrganizationSpec()), base)


def test_assumed_role_session_lands_in_the_other_account():
    with mock_aws():
        base = boto3.Session(region_name="us-east-1")
        session = session_for(Target(OTHER, "eu-west-1", RoleSpec(role_arn=ROLE, external_id="x1")), base)
        assert session.region_name == "eu-west-1"
        assert session.client("sts").get_caller_identity()["Account"] == OTHER
        vpc = session.client("ec2").create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
        assert vpc in ec2_backends[OTHER]["eu-west-1"].vpcs
        assert vpc not in ec2_backends[DEFAULT_ACCOUNT_ID]["eu-west-1"].vpcs
        assert session_for(Target(DEFAULT_ACCOUNT_ID, "us-east-1"), base) is base


def test_assumed_credentials_refresh_before_expiry():
    with mock_aws():
        base = boto3.Session(region_name="us-east-1")
        lasting = session_for(Target(OTHER, "us-east-1", RoleSpec(role_arn=ROLE)), base).get_credentials()
        assert isinstance(lasting, DeferredRefreshableCredentials)
        assert lasting.get_frozen_credentials() == lasting.get_frozen_credentials()   # an hour left: kept
        role = RoleSpec(role_arn=ROLE, duration_seconds=900)
        short = session_for(Target(OTHER, "us-east-1", role), base).get_credentials()
        # 15 minutes left is within botocore's refresh window: the role is assumed again
        assert short.get_frozen_credentials().access_key != short.get_frozen_credentials().access_key


@pytest.mark.parametrize(("args", "message"), [
    (["--shard", "3/2"], "error: --shard: shard '3/2': I must be between 1 and N"),
    (["--max-concurrent", "0"], "error: --max-concurrent: Input should be greater than or equal to 1"),
    (["--role-arn", "arn:aws:iam::1:role/x"], "error: --role-arn: not an IAM role ARN"),
    (["--role-arn", ROLE, "--external-id", "bad id!"], "error: --external-id: an external id is 2-1224 characters"),
    (["--region", "us-east-1,Mars"], "error: --region: 'Mars' is not a region name"),
    (["--include-account", OTHER], "error: --include-account: only with --organization"),
    (["--external-id", "abc"], "error: --external-id: only with --role-arn or --organization"),
    (["--organization", "--exclude-account", "12"], "error: --exclude-account: an account id is 12 digits"),
])
def test_target_options_refused_in_one_line(capsys, args, message):
    code, out, err = audit(capsys, *args)
    assert code == 2 and out == "" and err.startswith(message) and err.count("\n") == 1
    assert "bad id!" not in err


def test_targets_file_errors_name_file_line_and_field(capsys, tmp_path):
    path = tmp_path / "targets.yaml"
    path.write_text("slack: {}\ntargets:\n  regions: [eu-west-1]\n  accounts:\n"
                    "    - role_arn: arn:aws:iam::111111111111:role/a\n      external_id: 'no spaces allowed'\n"
                    "    - {role_arn: nope}\n  colour: blue\n")
    code, out, err = audit(capsys, "--targets", str(path))
    assert code == 2 and out == "" and "no spaces allowed" not in err
    assert err.splitlines() == [
        f"error: {path}:6: targets.accounts[0].external_id: an external id is 2-1224 characters of letters, digits "
        "and +=,.@:/-",
        f"error: {path}:7: targets.accounts[1].role_arn: not an IAM role ARN (arn:<partition>:iam::<12-digit account>:"
        "role/<name>)",
        f"error: {path}:8: targets.colour: unknown key"]
    path.write_text("regions: [eu-west-1]\n")
    assert audit(capsys, "--targets", str(path))[2] == f"error: {path}:1: targets: expected a mapping under a " \
                                                       "top-level 'targets:' key\n"
    assert "give the targets in the file or as options, not both (also given: --region)" in \
        audit(capsys, "--targets", str(path), "--region", "eu-west-1")[2]


def test_targets_file_and_shards_through_the_cli(account, capsys, tmp_path):
    path = tmp_path / "targets.yaml"
    path.write_text("targets:\n  regions: [us-east-1, eu-west-1, eu-central-1, ap-southeast-2]\n  max_concurrent: 2\n")
    keys = []
    for shard in ("1/2", "2/2"):
        code, out, _ = audit(capsys, "--format", "json", "--targets", str(path), "--shard", shard)
        report = json.loads(out)
        jsonschema.validate(report, REPORT_SCHEMA)
        assert code == 0 and report["errors"] == [] and {t["status"] for t in report["targets"]} == {"audited"}
        keys.append([f"{t['account']}/{t['region']}" for t in report["targets"]])
    regions = ["ap-southeast-2", "eu-central-1", "eu-west-1", "us-east-1"]
    assert sorted(keys[0] + keys[1]) == [f"{DEFAULT_ACCOUNT_ID}/{r}" for r in regions] and keys[0] and keys[1]
    code, out, _ = audit(capsys, "--targets", str(path))
    assert code == 0 and out.index(f"account {DEFAULT_ACCOUNT_ID}  region ap-southeast-2") \
        < out.index(f"account {DEFAULT_ACCOUNT_ID}  region us-east-1")
