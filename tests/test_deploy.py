"""deploy/*.yaml, the CloudFormation templates of the ECS deployment: cfn-lint reports nothing, and the
template agrees with the daemon's settings, docs/iam-policy.json and the Dockerfile.

The static checks read the template with cfn-lint's own YAML loader (it takes !Ref, !Sub, !If...) and
resolve it for a few sets of parameter values with a small evaluator of the intrinsic functions the
template uses, as CloudFormation would, so each check sees what a stack of those parameters would create.
"""
from __future__ import annotations

import json
import os
import re
import types
import typing
from pathlib import Path
from typing import Any

import pytest

from auditor.daemon.config import DaemonConfig, HttpConfig, load_config
from auditor.emulated.architectures import ENVIRONMENTS
from auditor.notify.slack.config import CHANNEL_KEYS, SlackConfig
from auditor.rules.loader import architecture_names

try:
    import cfnlint
except ImportError:   # the test extra installs it (pyproject.toml)
    cfnlint = None
if cfnlint is not None:   # installed: its API must be there (a failure here is a real one, not a skip)
    from cfnlint.api import ManualArgs, lint_file
    from cfnlint.decode import cfn_yaml

pytestmark = pytest.mark.skipif(cfnlint is None, reason="cfn-lint is not importable: install the test extra "
                                                         "(pip install -e '.[test]') to lint and check deploy/*.yaml")

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
TEMPLATES = sorted(DEPLOY.glob("*.yaml"))
SIDECAR_TEMPLATE = DEPLOY / "ecs-sidecar.yaml"
AUDIT_ROLE_TEMPLATE = DEPLOY / "audit-role.yaml"
EXAMPLE_PARAMETERS = DEPLOY / "ecs-sidecar.parameters.example.json"
POLICY = json.loads((ROOT / "docs" / "iam-policy.json").read_text())
DOCKERFILE = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
PORT = HttpConfig().port
AUDITOR = "auditor"
NO_VALUE = object()

BASE = {"AuditorImage": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/auditor:0.1.0",
        "VpcId": "vpc-0123456789abcdef0", "ScraperSecurityGroupId": "sg-0aaaaaaaaaaaaaaaa"}
SIDECAR = {**BASE, "AppImage": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop:1.4.2"}
SLACK_SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:auditor/slack-bot-token-AbC123"
PARAMS_PARAMETER = "arn:aws:ssm:eu-west-1:123456789012:parameter/auditor/params"
KMS_KEY = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
AUDIT_ROLES = "arn:aws:iam::210987654321:role/auditor-read-only,arn:aws:iam::*:role/auditor-org-read-only"
ASSUME_SID = "AuditorAssumeRoleOptional"
EVERYTHING = {**SIDECAR, "Architecture": "mattilda", "AuditEnvironment": "production", "AuditRegion": "eu-west-1",
              "PackParamsParameterArn": PARAMS_PARAMETER, "SlackTokenSecretArn": SLACK_SECRET,
              "SlackTokenSecretJsonKey": "token", "SlackChannel": "C0123456789", "SecretsKmsKeyArn": KMS_KEY,
              "CostExplorer": "true", "PriceListApi": "true", "StateFileSystemId": "fs-0123456789abcdef0",
              "AppPolicyArns": "arn:aws:iam::123456789012:policy/shop", "AuditRoleArns": AUDIT_ROLES,
              "OrganizationAccounts": "true"}
SERVICE = {**BASE, "Mode": "service", "Cluster": "audit", "Subnets": "subnet-0123456789abcdef0,subnet-0fedcba9876543210",
           "ExtraSecurityGroupIds": "sg-0bbbbbbbbbbbbbbbb", "ServiceDiscoveryNamespaceId": "ns-abcdefghijklmnop",
           "Architecture": "portfolio", "PackParams": '{"project": "portfolio"}',
           "Targets": json.dumps({"regions": ["eu-west-1", "us-east-1"], "accounts": [
               {"role_arn": "arn:aws:iam::210987654321:role/auditor-read-only"}]}), "Shard": "2/3"}
CASES = {"sidecar, defaults": SIDECAR, "sidecar, everything": EVERYTHING, "service": SERVICE,
         "service, everything": {**EVERYTHING, **SERVICE, "PackParams": ""}}
# What the two container secrets hold at run time, for the daemon's own validation.
SECRET_VALUES = {"SLACK_BOT_TOKEN": "xoxb-not-a-real-token", "AUDITOR_PARAMS": '{"project": "mattilda-eu"}'}


def load(path: Path) -> dict[str, Any]:
    return cfn_yaml.load(str(path))


class Stack:
    """The template as CloudFormation resolves it for one set of parameter values."""

    PSEUDO = {"AWS::Region": "eu-west-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws",
              "AWS::StackName": "auditor", "AWS::URLSuffix": "amazonaws.com"}

    def __init__(self, template: dict[str, Any], **values: str):
        self.template = template
        unknown = set(values) - set(template["Parameters"])
        assert not unknown, f"not parameters of the template: {unknown}"
        self.params: dict[str, Any] = {}
        for name, spec in template["Parameters"].items():
            assert name in values or "Default" in spec, f"parameter {name} has no value and no default"
            value = str(values.get(name, spec.get("Default")))
            self.params[name] = value.split(",") if spec["Type"].startswith(("CommaDelimitedList", "List<")) else value
        self._conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = bool(self.value(self.template["Conditions"][name]))
        return self._conditions[name]

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.PSEUDO:
            return self.PSEUDO[name]
        if name in self.params:
            return self.params[name]
        assert name in self.resources(), f"!Ref {name}: not a parameter nor a resource of this stack"
        return f"<{name}>"

    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in map(self.value, node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::If":
                return self.value(arg[1] if self.condition(arg[0]) else arg[2])
            if key == "Fn::Equals":
                return self.value(arg[0]) == self.value(arg[1])
            if key == "Fn::Not":
                return not self.value(arg[0])
            if key == "Fn::And":
                return all(self.value(a) for a in arg)
            if key == "Fn::Or":
                return any(self.value(a) for a in arg)
            if key == "Fn::Contains":
                return self.value(arg[1]) in self.value(arg[0])
            if key == "Fn::EachMemberEquals":
                return all(v == self.value(arg[1]) for v in self.value(arg[0]))
            if key == "Fn::Join":
                return self.value(arg[0]).join(self.value(arg[1]))
            if key == "Fn::Split":
                return self.value(arg[1]).split(self.value(arg[0]))
            if key == "Fn::Sub":
                return re.sub(r"\$\{([^}]+)\}", lambda m: str(self.ref(m.group(1))), arg)
            if key == "Fn::GetAtt":
                assert arg[0] in self.resources(), f"!GetAtt {arg[0]}: not a resource of this stack"
                return f"<{arg[0]}.{arg[1]}>"
            assert not key.startswith("Fn::"), f"the evaluator does not know {key}"
        return {k: v for k, v in ((k, self.value(v)) for k, v in node.items()) if v is not NO_VALUE}

    def resources(self) -> dict[str, Any]:
        return {name: r for name, r in self.template["Resources"].items()
                if "Condition" not in r or self.condition(r["Condition"])}

    def properties(self, name: str) -> dict[str, Any]:
        return self.value(self.resources()[name].get("Properties", {}))

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {name: self.properties(name) for name, r in self.resources().items() if r["Type"] == kind}

    def failed_rules(self) -> list[str]:
        failed = []
        for rule in self.template.get("Rules", {}).values():
            if "RuleCondition" in rule and not self.value(rule["RuleCondition"]):
                continue
            failed += [a["AssertDescription"] for a in rule["Assertions"] if not self.value(a["Assert"])]
        return failed

    def containers(self) -> dict[str, dict[str, Any]]:
        (task,) = self.of_type("AWS::ECS::TaskDefinition").values()
        return {c["Name"]: c for c in task["ContainerDefinitions"]}

    def task_role_statements(self) -> list[dict[str, Any]]:
        (policy,) = self.properties("TaskRole")["Policies"]
        return policy["PolicyDocument"]["Statement"]


def stacks() -> list[tuple[str, Stack]]:
    template = load(SIDECAR_TEMPLATE)
    return [(case, Stack(template, **values)) for case, values in CASES.items()]


def raw_auditor_container(template: dict[str, Any]) -> dict[str, Any]:
    (container,) = [c for c in template["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"]
                    if c.get("Name") == AUDITOR]
    return container


def walk(node: Any):
    """Every mapping in the tree, branches of !If included."""
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v)


def dockerfile_uid() -> str:
    return re.search(r"useradd\b[^&]*--uid (\d+)", DOCKERFILE).group(1)


def dockerfile_json(op: str) -> list[str]:
    line = next(line for line in DOCKERFILE.splitlines() if line.startswith(op + " "))
    return json.loads(line[len(op):].split(" CMD ", 1)[-1])


def test_templates_exist_and_cfn_lint_reports_nothing():
    assert SIDECAR_TEMPLATE in TEMPLATES
    for template in TEMPLATES:
        matches = lint_file(template, ManualArgs(regions=["us-east-1", "eu-west-1"]))
        assert not matches, "\n".join(f"{m.rule.id} {m.filename}:{m.linenumber} {m.message}" for m in matches)


def invalid_parameters(stack: Stack) -> list[tuple[str, str]]:
    """Values that CloudFormation would refuse: outside AllowedValues, or not matching AllowedPattern."""
    bad = []
    for name, spec in stack.template["Parameters"].items():
        for value in stack.params[name] if isinstance(stack.params[name], list) else [stack.params[name]]:
            if "AllowedValues" in spec and value not in [str(v) for v in spec["AllowedValues"]] \
                    or "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], value):
                bad.append((name, value))
    return bad


@pytest.mark.parametrize("case", CASES)
def test_parameter_sets_are_valid_and_the_rules_accept_them(case):
    stack = dict(stacks())[case]
    assert invalid_parameters(stack) == [] and stack.failed_rules() == []


def test_example_parameters_file_fits_the_template():
    example = json.loads(EXAMPLE_PARAMETERS.read_text())["Parameters"]   # the `deploy --parameter-overrides` format
    stack = Stack(load(SIDECAR_TEMPLATE), **example)
    assert invalid_parameters(stack) == [] and stack.failed_rules() == []


@pytest.mark.parametrize("values, problem", [
    ({**SIDECAR, "SlackTokenSecretArn": SLACK_SECRET}, "SlackChannel"),
    ({**SIDECAR, "PackParams": "{}", "PackParamsParameterArn": PARAMS_PARAMETER}, "not both"),
    (BASE, "AppImage"),
    ({**SIDECAR, "AppContainerName": AUDITOR}, "AppContainerName"),
    ({**BASE, "Mode": "service"}, "Cluster"),
    ({**BASE, "Mode": "service", "Cluster": "audit"}, "Subnets"),
])
def test_rules_refuse_half_made_parameter_sets(values, problem):
    failed = Stack(load(SIDECAR_TEMPLATE), **values).failed_rules()
    assert any(problem in f for f in failed), failed


def test_architecture_choices_are_the_documented_packs():
    allowed = load(SIDECAR_TEMPLATE)["Parameters"]["Architecture"]["AllowedValues"]
    assert allowed == ["", *sorted(ENVIRONMENTS)] and set(ENVIRONMENTS) <= set(architecture_names())


@pytest.mark.parametrize("case", CASES)
def test_auditor_serves_the_daemon_port_with_the_dockerfile_health_check(case):
    stack = dict(stacks())[case]
    auditor = stack.containers()[AUDITOR]
    assert [(p["ContainerPort"], p["Protocol"]) for p in auditor["PortMappings"]] == [(PORT, "tcp")]
    check = auditor["HealthCheck"]["Command"]
    assert check == ["CMD", *dockerfile_json("HEALTHCHECK")]
    assert f"http://127.0.0.1:{PORT}/healthz" in check[-1]
    assert auditor["EntryPoint"] + auditor["Command"] == dockerfile_json("ENTRYPOINT")   # and no --config
    env = {e["Name"]: e["Value"] for e in auditor["Environment"]}
    assert env["AUDITOR_HTTP__PORT"] == str(PORT)
    assert auditor["StopTimeout"] >= 10   # README: the daemon stops within ten seconds of SIGTERM
    assert auditor["ReadonlyRootFilesystem"] is True
    assert auditor["User"] == dockerfile_uid()
    options = auditor["LogConfiguration"]["Options"]
    assert auditor["LogConfiguration"]["LogDriver"] == "awslogs" and options["awslogs-group"] == "<LogGroup>"
    assert stack.properties("LogGroup")["RetentionInDays"]


@pytest.mark.parametrize("case", CASES)
def test_the_auditor_is_a_non_essential_sidecar_beside_the_application(case):
    stack = dict(stacks())[case]
    containers = stack.containers()
    app = stack.params["AppContainerName"]
    if stack.params["Mode"] == "sidecar":
        assert containers[AUDITOR]["Essential"] is False
        assert containers[app]["Essential"] is True and containers[app]["Image"] == stack.params["AppImage"]
        assert not stack.of_type("AWS::ECS::Service")
    else:
        assert app not in containers and containers[AUDITOR]["Essential"] is True
        (service,) = stack.of_type("AWS::ECS::Service").values()
        assert service["DesiredCount"] == 1 and service["DeploymentConfiguration"]["MaximumPercent"] == 100
        assert service["NetworkConfiguration"]["AwsvpcConfiguration"]["SecurityGroups"][0] == "<ScrapeSecurityGroup.GroupId>"
    assert all(c["Essential"] is False for name, c in containers.items() if name not in (app, AUDITOR))


@pytest.mark.parametrize("case", CASES)
def test_state_file_is_on_the_writable_volume(case):
    stack = dict(stacks())[case]
    containers = stack.containers()
    auditor = containers[AUDITOR]
    env = {e["Name"]: e["Value"] for e in auditor["Environment"]}
    state_dir = str(Path(env["AUDITOR_STATE__PATH"]).parent)
    (mount,) = auditor["MountPoints"]
    assert mount["ContainerPath"] == state_dir and mount["ReadOnly"] is False
    assert env["TMPDIR"] == state_dir and env["XDG_CACHE_HOME"].startswith(state_dir + "/")
    (task,) = stack.of_type("AWS::ECS::TaskDefinition").values()
    (volume,) = [v for v in task["Volumes"] if v["Name"] == mount["SourceVolume"]]
    uid = dockerfile_uid()
    if stack.params["StateFileSystemId"]:
        assert volume["EFSVolumeConfiguration"]["TransitEncryption"] == "ENABLED"
        access_point = stack.properties("StateAccessPoint")
        assert access_point["PosixUser"]["Uid"] == access_point["RootDirectory"]["CreationInfo"]["OwnerUid"] == uid
        assert "auditor-init" not in containers
    else:   # task storage is root-owned: the init container hands the folder to the image's user first
        assert "EFSVolumeConfiguration" not in volume
        init = containers["auditor-init"]
        assert init["MountPoints"] == [mount] and f"os.chown('{state_dir}', {uid}," in init["Command"][0]
        assert auditor["DependsOn"] == [{"ContainerName": "auditor-init", "Condition": "SUCCESS"}]


def setting_exists(name: str) -> bool:
    """AUDITOR_A__B__C names a key of DaemonConfig (a section's field, or a key of a mapping setting)."""
    parts = name.removeprefix("AUDITOR_").lower().split("__")
    model: Any = DaemonConfig
    for i, part in enumerate(parts):
        if model is dict:   # a mapping setting: its keys are free, but slack.channels has known ones
            return i == len(parts) - 1 and (parts[:i] != ["slack", "channels"] or part in CHANNEL_KEYS)
        if not (isinstance(model, type) and hasattr(model, "model_fields")) or part not in model.model_fields:
            return False
        annotation = model.model_fields[part].annotation
        optional = [a for a in typing.get_args(annotation) if a is not type(None)]   # X | None: X
        annotation = optional[0] if len(optional) == 1 and isinstance(annotation, types.UnionType) else annotation
        model = dict if getattr(annotation, "__origin__", None) is dict else annotation
    return True


def test_every_auditor_variable_names_a_daemon_setting():
    names = {n["Name"] for n in walk(raw_auditor_container(load(SIDECAR_TEMPLATE))) if isinstance(n.get("Name"), str)}
    settings = {n for n in names if n.startswith("AUDITOR_")}
    assert {"AUDITOR_ARCHITECTURE", "AUDITOR_ENVIRONMENT", "AUDITOR_REGION", "AUDITOR_PARAMS"} <= settings
    assert [n for n in settings if not setting_exists(n)] == []
    assert not setting_exists("AUDITOR_NO_SUCH_KEY") and not setting_exists("AUDITOR_HTTP__NO_SUCH_KEY")


@pytest.mark.parametrize("case", CASES)
def test_the_daemon_accepts_the_environment_of_the_task(case, monkeypatch):
    stack = dict(stacks())[case]
    auditor = stack.containers()[AUDITOR]
    environ = {e["Name"]: e["Value"] for e in auditor["Environment"]}
    for secret in auditor.get("Secrets", []):
        assert secret["Name"] not in environ
        environ[secret["Name"]] = SECRET_VALUES[secret["Name"]]
    for name in [n for n in os.environ if n.upper().startswith("AUDITOR_")]:
        monkeypatch.delenv(name)
    for name, value in environ.items():
        monkeypatch.setenv(name, str(value))
    config = load_config(None)
    assert config.http.port == PORT
    assert str(config.state.path) == environ["AUDITOR_STATE__PATH"]
    assert config.architecture == (stack.params["Architecture"] or None)
    assert config.region == (stack.params["AuditRegion"] or Stack.PSEUDO["AWS::Region"])
    assert config.params == json.loads(environ.get("AUDITOR_PARAMS", "{}"))
    assert config.slack.enabled is bool(stack.params["SlackTokenSecretArn"])
    assert config.cost.actual_spend is (stack.params["CostExplorer"] == "true")
    if not (stack.params["Targets"] or stack.params["Shard"]):
        assert config.targets is None
        return
    targets = json.loads(stack.params["Targets"] or "{}")
    assert config.targets.regions == targets.get("regions", [])
    assert [a.role_arn for a in config.targets.accounts] == [a["role_arn"] for a in targets.get("accounts", [])]
    assert config.targets.shard == (stack.params["Shard"] or None)


def test_task_role_policy_is_docs_iam_policy():
    template = load(SIDECAR_TEMPLATE)
    statements = template["Resources"]["TaskRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    required = [s for s in statements if "Fn::If" not in s]
    optional = {s["Fn::If"][1]["Sid"]: s["Fn::If"] for s in statements if "Fn::If" in s}
    assert required == [s for s in POLICY["Statement"] if not s["Sid"].endswith("Optional")]
    assert optional[ASSUME_SID][1]["Resource"] == {"Ref": "AuditRoleArns"}   # the roles named, not the placeholder
    assert {sid: branches[1] for sid, branches in optional.items()} == \
        {s["Sid"]: with_roles(s, {"Ref": "AuditRoleArns"}) for s in POLICY["Statement"] if s["Sid"].endswith("Optional")}
    for sid, (condition, _, otherwise) in optional.items():
        assert otherwise == {"Ref": "AWS::NoValue"}, sid
        assert not Stack(template, **SIDECAR).condition(condition), f"{sid} is on by default"
    # Resolved: defaults give the required statements only, everything on gives the whole file.
    assert Stack(template, **SIDECAR).task_role_statements() == required
    assert Stack(template, **EVERYTHING).task_role_statements() == \
        [with_roles(s, AUDIT_ROLES.split(",")) for s in POLICY["Statement"]]
    assert Stack(template, **EVERYTHING).properties("TaskRole")["ManagedPolicyArns"] == [EVERYTHING["AppPolicyArns"]]
    assert "ManagedPolicyArns" not in Stack(template, **SIDECAR).properties("TaskRole")


def with_roles(statement: dict[str, Any], resource: Any) -> dict[str, Any]:
    """A statement of docs/iam-policy.json, the AssumeRole one with the roles of the stack."""
    return {**statement, "Resource": resource} if statement["Sid"] == ASSUME_SID else statement


def test_audit_role_is_the_read_only_statement_trusting_the_auditor_only():
    template = load(AUDIT_ROLE_TEMPLATE)
    auditor = "arn:aws:iam::123456789012:role/auditor-TaskRole-ABC"
    plain = Stack(template, AuditorRoleArn=auditor).properties("AuditRole")
    statements = plain["Policies"][0]["PolicyDocument"]["Statement"]
    assert statements == [s for s in POLICY["Statement"] if s["Sid"] == "AuditorReadOnly"]
    with_ce = Stack(template, AuditorRoleArn=auditor, CostExplorer="true").properties("AuditRole")
    assert with_ce["Policies"][0]["PolicyDocument"]["Statement"][1:] == \
        [s for s in POLICY["Statement"] if s["Sid"] == "AuditorCostExplorerOptional"]
    (trust,) = plain["AssumeRolePolicyDocument"]["Statement"]
    assert trust == {"Effect": "Allow", "Principal": {"AWS": auditor}, "Action": "sts:AssumeRole"}
    (trust,) = Stack(template, AuditorRoleArn=auditor, ExternalId="fleet-7f3a")\
        .properties("AuditRole")["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": "fleet-7f3a"}}
    assert template["Parameters"]["ExternalId"]["NoEcho"] is True
    assert plain["RoleName"] == "auditor-read-only" and plain["MaxSessionDuration"] == "3600"


def test_cost_explorer_statement_comes_with_the_setting_that_uses_it():
    template = load(SIDECAR_TEMPLATE)
    for value in ("false", "true"):
        stack = Stack(template, **SIDECAR, CostExplorer=value)
        env = {e["Name"]: e["Value"] for e in stack.containers()[AUDITOR]["Environment"]}
        sids = {s["Sid"] for s in stack.task_role_statements()}
        assert ("AuditorCostExplorerOptional" in sids) is (env["AUDITOR_COST__ACTUAL_SPEND"] == "true") is (value == "true")


def test_execution_role_reads_exactly_the_container_secrets():
    template = load(SIDECAR_TEMPLATE)
    assert "Policies" not in Stack(template, **SIDECAR).properties("ExecutionRole")
    assert "Secrets" not in Stack(template, **SIDECAR).containers()[AUDITOR]
    stack = Stack(template, **EVERYTHING)
    (policy,) = stack.properties("ExecutionRole")["Policies"]
    granted = {(s["Action"], s["Resource"]) for s in policy["PolicyDocument"]["Statement"]}
    assert granted == {("secretsmanager:GetSecretValue", SLACK_SECRET), ("ssm:GetParameters", PARAMS_PARAMETER),
                       ("kms:Decrypt", KMS_KEY)}
    secrets = {s["Name"]: s["ValueFrom"] for s in stack.containers()[AUDITOR]["Secrets"]}
    assert secrets == {"SLACK_BOT_TOKEN": f"{SLACK_SECRET}:token::", "AUDITOR_PARAMS": PARAMS_PARAMETER}


def test_slack_token_is_never_a_plain_variable():
    template = load(SIDECAR_TEMPLATE)
    token_env = SlackConfig().token_env
    assert token_env == "SLACK_BOT_TOKEN"
    containers = template["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    plain = [e for c in walk(containers) for e in walk(c.get("Environment", []))]
    assert not [e for e in plain if re.search(r"TOKEN|WEBHOOK|SECRET", str(e.get("Name", "")), re.I)]
    assert "SlackTokenSecretArn" not in json.dumps(plain)
    secrets = [e for c in walk(containers) for e in walk(c.get("Secrets", [])) if e.get("Name") == token_env]
    assert len(secrets) == 1 and "SlackTokenSecretArn" in json.dumps(secrets[0]["ValueFrom"])
    for _, stack in stacks():
        for container in stack.containers().values():
            assert token_env not in {e["Name"] for e in container.get("Environment", [])}


@pytest.mark.parametrize("case", CASES)
def test_scrape_port_is_open_to_the_scraper_security_group_only(case):
    stack = dict(stacks())[case]
    rules = list(stack.of_type("AWS::EC2::SecurityGroupIngress").values())
    for name, group in stack.of_type("AWS::EC2::SecurityGroup").items():
        rules += [{**r, "GroupId": f"<{name}.GroupId>"} for r in group.get("SecurityGroupIngress", [])]
    assert rules == [{"GroupId": "<ScrapeSecurityGroup.GroupId>", "Description": rules[0]["Description"],
                      "IpProtocol": "tcp", "FromPort": PORT, "ToPort": PORT,
                      "SourceSecurityGroupId": stack.params["ScraperSecurityGroupId"]}]


def test_outputs_name_the_task_definition_security_group_and_log_group():
    stack = Stack(load(SIDECAR_TEMPLATE), **SIDECAR)
    outputs = {name: stack.value(o["Value"]) for name, o in stack.template["Outputs"].items()
               if "Condition" not in o or stack.condition(o["Condition"])}
    assert outputs["TaskDefinitionArn"] == "<TaskDefinition>"
    assert outputs["SecurityGroupId"] == "<ScrapeSecurityGroup.GroupId>"
    assert outputs["LogGroupName"] == "<LogGroup>"
