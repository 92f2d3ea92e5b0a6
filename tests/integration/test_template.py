"""template.yaml is the product: prove it valid, wired to real metrics, and its policies sufficient and scoped."""

from __future__ import annotations

import fnmatch
import functools
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import boto3
import pytest

from canary_rollback.aws.clients import AwsClients
from canary_rollback.handlers import probe as probe_handler
from canary_rollback.handlers import rollback as rollback_handler
from canary_rollback.runtime import build_runtime
from demo.lambda_context import FakeLambdaContext
from demo.local_aws import ACCOUNT, REGION
from demo.template import Resolver, load_template, parameter_defaults
from tests.conftest import REPO, emf_lines, load_event
from tests.integration.conftest import break_with_34, make_known_good

TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]
FUNCTIONS = ("ProbeFunction", "RollbackFunction")
STACK = "canary-rollback"


def resolver(**overrides: str) -> Resolver:
    refs = {
        **parameter_defaults(TEMPLATE),
        "AWS::StackName": STACK,
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT,
        "AWS::Partition": "aws",
        "StateTable": f"{STACK}-StateTable",
        "StateTable.Arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{STACK}-StateTable",
        "NotifyTopic": f"arn:aws:sns:{REGION}:{ACCOUNT}:{STACK}-NotifyTopic",
        "ProbeFunction": f"{STACK}-ProbeFunction",
        "RollbackFunction": f"{STACK}-RollbackFunction",
        **overrides,
    }
    return Resolver(TEMPLATE, refs)


def sam_cli() -> str:
    found = os.environ.get("SAM_CLI") or shutil.which("sam") or str(REPO / ".venv-sam" / "bin" / "sam")
    if not Path(found).exists():
        if os.environ.get("CI"):
            pytest.fail("the SAM CLI is missing: `make test` installs it into .venv-sam")
        pytest.skip("SAM CLI not installed (make test installs it into .venv-sam)")
    return found


def sam_env() -> dict[str, str]:
    return {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1"}


# ---- validators ------------------------------------------------------------------------------------


def test_cfn_lint_is_clean() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(REPO / "template.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_validate_is_clean() -> None:
    result = subprocess.run(
        [sam_cli(), "validate", "--template-file", str(REPO / "template.yaml")],
        capture_output=True,
        text=True,
        env=sam_env(),
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout


# ---- what no validator checks ------------------------------------------------------------------------

_RATE = re.compile(r"rate\((1 (minute|hour|day)|([2-9]|[1-9]\d+) (minutes|hours|days))\)")


def test_default_schedule_is_a_valid_rate_expression_and_the_parameter_pattern_agrees() -> None:
    spec = TEMPLATE["Parameters"]["ProbeSchedule"]
    assert _RATE.fullmatch(spec["Default"])
    allowed = re.compile(spec["AllowedPattern"])
    for good in ("rate(1 minute)", "rate(5 minutes)", "rate(1 hour)", "rate(2 hours)"):
        assert allowed.fullmatch(good), good
        assert _RATE.fullmatch(good), good
    for bad in ("rate(1 minutes)", "rate(5 minute)", "rate(0 minutes)", "rate(minute)", "cron(bad"):
        assert not allowed.fullmatch(bad), bad


def test_functions_fit_lambda_limits_and_the_probe_budget() -> None:
    globals_ = TEMPLATE["Globals"]["Function"]
    assert globals_["Runtime"] == "python3.12"
    assert globals_["MemorySize"] == 128
    for name in FUNCTIONS:
        timeout = RESOURCES[name]["Properties"]["Timeout"]
        assert 1 <= timeout <= 900, name
    from canary_rollback.probe_spec import MAX_TIMEOUT_MS

    # every probe runs concurrently; the slowest allowed probe plus AWS calls must fit the function timeout
    assert RESOURCES["ProbeFunction"]["Properties"]["Timeout"] >= MAX_TIMEOUT_MS / 1000 + 20


def test_handlers_resolve_the_way_sam_resolves_them() -> None:
    code_uri = REPO / TEMPLATE["Globals"]["Function"]["CodeUri"]
    assert (code_uri / "requirements.txt").is_file()
    for name in FUNCTIONS:
        module_name, attribute = RESOURCES[name]["Properties"]["Handler"].rsplit(".", 1)
        assert (code_uri / (module_name.replace(".", "/") + ".py")).is_file()
        assert callable(getattr(importlib.import_module(module_name), attribute))


def test_every_sample_event_exists_and_is_json() -> None:
    for name in ("schedule", "alarm-state-change", "alarm-lambda-action", "alarm-sns", "alarm-ok"):
        assert isinstance(load_event(name), dict)


def test_environment_covers_the_spec_variables() -> None:
    env = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    spec = {
        "PROBES", "PROBES_PARAMETER", "METRICS_SINK", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_SERVICE_NAME",
        "CLUSTER_NAME", "SERVICE_NAME", "STATE_TABLE", "KNOWN_GOOD_AFTER", "ROLLBACK_COOLDOWN_SECONDS", "DRY_RUN",
        "NOTIFY_TOPIC_ARN",
    }  # fmt: skip
    assert spec <= set(env)
    # the default probes parameter is valid probe JSON
    from canary_rollback.probe_spec import parse_probes_json

    names = [p.name for p in parse_probes_json(TEMPLATE["Parameters"]["Probes"]["Default"])]
    assert names == ["mlflow-proxy", "auth-service"]


def test_missing_data_never_triggers_the_rollback() -> None:
    alarm = RESOURCES["RollbackAlarm"]["Properties"]
    assert alarm["TreatMissingData"] == "notBreaching"
    rule = RESOURCES["RollbackFunction"]["Properties"]["Events"]["AlarmState"]["Properties"]["Pattern"]
    assert rule["detail"]["state"]["value"] == ["ALARM"]
    assert rule["resources"] == [{"Fn::GetAtt": ["RollbackAlarm", "Arn"]}]
    # the not-running alarm only notifies: nothing routes it to the rollback function
    not_running = RESOURCES["ProbesNotRunningAlarm"]["Properties"]
    assert not_running["TreatMissingData"] == "breaching"
    assert not_running["AlarmActions"] == [{"Ref": "NotifyTopic"}]


def test_m_of_n_defaults_are_consistent() -> None:
    params = parameter_defaults(TEMPLATE)
    assert 1 <= int(params["AlarmDatapointsToAlarm"]) <= int(params["AlarmEvaluationPeriods"])


# ---- alarms watch metrics that exist ------------------------------------------------------------------


def test_every_alarm_on_our_namespace_watches_an_emitted_metric_with_exactly_its_dimensions(
    world: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {**world.stack.function_env, "METRICS_SINK": "emf"}
    probe_handler.runtime.set(build_runtime(env, clock=world.clock))
    world.alb.routes.mlflow_routed = False
    probe_handler.handler(load_event("schedule"), FakeLambdaContext("ProbeFunction"))
    emitted: set[tuple[str, str, frozenset[tuple[str, str]]]] = set()
    for blob in emf_lines(capsys.readouterr().out):
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                dims = frozenset((name, blob[name]) for name in dimension_set)
                for metric in directive["Metrics"]:
                    emitted.add((directive["Namespace"], metric["Name"], dims))

    namespace = env["POWERTOOLS_METRICS_NAMESPACE"]
    watched = 0
    for logical_id, resource in RESOURCES.items():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        props = resolver().resolve(resource["Properties"])
        if props["Namespace"] != namespace:
            assert props["Namespace"] == "AWS/Lambda", logical_id  # the functions' own error alarms
            continue
        key = (props["Namespace"], props["MetricName"], frozenset((d["Name"], d["Value"]) for d in props["Dimensions"]))
        assert key in emitted, f"{logical_id} watches {key}, which the probe run never emits"
        watched += 1
    assert watched == 3  # RollbackAlarm, ProbesNotRunningAlarm, ProbeErrorsAlarm


# ---- policies: sufficient (every call the code makes) and scoped ------------------------------------


def _statements(function: str, resolve: Resolver) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    for policy in resolve.resolve(RESOURCES[function]["Properties"]["Policies"]):  # conditional ones drop out
        statements += policy["Statement"]
    return statements


def _allows(statements: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    return [s for s in statements if s["Effect"] == "Allow" and action in s["Action"]]


def test_no_wildcard_actions_and_scoped_sensitive_statements() -> None:
    resolve = resolver()
    for function in FUNCTIONS:
        for statement in _statements(function, resolve):
            for action in statement["Action"]:
                assert "*" not in action, (function, action)
    service_arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/hokusai-development/hokusai-api"
    rollback = _statements("RollbackFunction", resolve)
    (update,) = _allows(rollback, "ecs:UpdateService")
    assert update["Resource"] == service_arn
    (pass_role,) = _allows(rollback, "iam:PassRole")
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}
    (tag,) = _allows(rollback, "ecs:TagResource")
    assert tag["Condition"] == {"StringEquals": {"ecs:CreateAction": "RegisterTaskDefinition"}}
    for function in FUNCTIONS:
        (metrics,) = _allows(_statements(function, resolve), "cloudwatch:PutMetricData")
        assert metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": "CanaryRollback"}}
        (describe,) = _allows(_statements(function, resolve), "ecs:DescribeServices")
        assert describe["Resource"] == service_arn
        (publish,) = _allows(_statements(function, resolve), "sns:Publish")
        assert publish["Resource"] == f"arn:aws:sns:{REGION}:{ACCOUNT}:{STACK}-NotifyTopic"


def test_probes_parameter_statement_follows_the_parameter() -> None:
    without = _allows(_statements("ProbeFunction", resolver()), "ssm:GetParameter")[0]["Resource"]
    assert without == [f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/canary-rollback/*"]
    with_param = _allows(
        _statements("ProbeFunction", resolver(ProbesParameterName="/team/probes")), "ssm:GetParameter"
    )[0]["Resource"]
    assert f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/team/probes" in with_param


def test_every_aws_call_the_code_makes_is_allowed_by_its_functions_policy(world: Any) -> None:
    # Given both functions with every AWS call recorded, through the whole loop plus the rarer paths
    calls: dict[str, set[str]] = defaultdict(set)

    def recorder(function: str) -> AwsClients:
        return AwsClients(on_call=lambda service, operation: calls[function].add(f"{service}:{operation}"))

    boto3.client("secretsmanager").create_secret(Name="canary-rollback/mlflow-token", SecretString="t")
    boto3.client("ssm").put_parameter(Name="/canary-rollback/basic", Value="u:p", Type="SecureString")
    probes = json.loads(world.stack.function_env["PROBES"])
    url = probes[0]["url"]
    probes += [
        {"name": "authed", "url": url, "expect_status": [401], "auth_secret": "canary-rollback/mlflow-token"},
        {"name": "basic", "url": url, "expect_status": [401], "auth_secret": "ssm:/canary-rollback/basic"},
    ]
    probes[-1]["auth_scheme"] = "Basic"
    boto3.client("ssm").put_parameter(Name="/canary-rollback/probes", Value=json.dumps(probes), Type="String")
    env = {**world.stack.function_env, "PROBES": "", "PROBES_PARAMETER": "/canary-rollback/probes"}
    probe_handler.runtime.set(build_runtime(env, clients=recorder("ProbeFunction"), clock=world.clock))
    rollback_handler.runtime.set(
        build_runtime(env, need_probes=False, clients=recorder("RollbackFunction"), clock=world.clock)
    )
    make_known_good(world)
    break_with_34(world)
    boto3.client("ecs").deregister_task_definition(taskDefinition=world.revisions[31])  # forces the copy path
    response = rollback_handler.handler(load_event("alarm-state-change"), FakeLambdaContext("RollbackFunction"))
    assert response["action"] == "rolled_back"
    world.minute()
    world.advance_rollout()
    assert world.probe_run()["ok"]  # recovery: RecoverySeconds + notification

    # Then every recorded call is an allowed action of that function
    resolve = resolver()
    iam_prefix = {"monitoring": "cloudwatch"}
    for function in FUNCTIONS:
        statements = _statements(function, resolve)
        assert calls[function], f"nothing recorded for {function}"
        for call in sorted(calls[function]):
            service, operation = call.split(":")
            action = f"{iam_prefix.get(service, service)}:{operation}"
            assert _allows(statements, action), f"{function} calls {action} but its policy does not allow it"
    assert {"ecs:UpdateService", "ecs:RegisterTaskDefinition", "dynamodb:PutItem"} <= calls["RollbackFunction"]
    assert {"ssm:GetParameter", "secretsmanager:GetSecretValue", "sns:Publish"} <= calls["ProbeFunction"]


def test_secret_resources_match_the_prefix_convention() -> None:
    statements = _statements("ProbeFunction", resolver())
    (secrets,) = _allows(statements, "secretsmanager:GetSecretValue")
    arn = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:canary-rollback/mlflow-token-AbCdEf"
    assert fnmatch.fnmatch(arn, secrets["Resource"])
    assert not fnmatch.fnmatch(
        f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:prod/db-password", secrets["Resource"]
    )


# ---- rendered: the SAM transform's output with the conditions evaluated --------------------------------

KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
VPC_POLICY = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
WITH_VPC = {"SubnetIds": "subnet-0a,subnet-0b", "SecurityGroupIds": "sg-0c"}


@functools.cache
def _sam_translated() -> str:
    """template.yaml as CloudFormation receives it after the SAM transform (scripts/sam_translate.py)."""
    sam_python = Path(sam_cli()).parent / "python"
    result = subprocess.run(
        [str(sam_python), str(REPO / "scripts" / "sam_translate.py"), str(REPO / "template.yaml")],
        capture_output=True,
        text=True,
        env=sam_env(),
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def rendered(**parameters: str) -> dict[str, dict[str, Any]]:
    """The deployed resources for these parameter values: conditional resources dropped, properties resolved."""
    template = json.loads(_sam_translated())
    resolve = Resolver(template, resolver(**parameters).refs)
    resources: dict[str, dict[str, Any]] = {}
    for logical_id, resource in template["Resources"].items():
        if "Condition" in resource and not resolve.condition(resource["Condition"]):
            continue
        # properties the tests below read; the rest may reference attributes the local resolver does not know
        wanted = ("VpcConfig", "KmsKeyArn", "SSESpecification", "KmsMasterKeyId", "KmsKeyId", "ManagedPolicyArns")
        props = resolve.resolve({key: value for key, value in resource.get("Properties", {}).items() if key in wanted})
        if resource["Type"] == "AWS::IAM::Role":
            props["Statements"] = [
                statement
                for policy in resolve.resolve(resource["Properties"].get("Policies", []))
                for statement in policy["PolicyDocument"]["Statement"]
            ]
        resources[logical_id] = {"Type": resource["Type"], "Properties": props}
    return resources


def _of_type(resources: dict[str, dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r["Properties"] for name, r in resources.items() if r["Type"] == kind}


def _kms_statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in role["Statements"] if any(str(a).startswith("kms:") for a in s["Action"])]


def test_rendered_without_vpc_or_key_has_no_vpc_config_no_key_and_no_kms_permission() -> None:
    resources = rendered()
    functions = _of_type(resources, "AWS::Lambda::Function")
    assert set(functions) >= set(FUNCTIONS)
    for name, props in functions.items():
        assert "VpcConfig" not in props, name
        assert "KmsKeyArn" not in props, name
    assert resources["StateTable"]["Properties"]["SSESpecification"] == {"SSEEnabled": True}
    assert "KmsMasterKeyId" not in resources["NotifyTopic"]["Properties"]
    for name, props in _of_type(resources, "AWS::Logs::LogGroup").items():
        assert "KmsKeyId" not in props, name
    for name, role in _of_type(resources, "AWS::IAM::Role").items():
        assert _kms_statements(role) == [], name


def test_rendered_with_subnets_puts_every_function_in_the_vpc_and_adds_only_the_eni_policy() -> None:
    without, with_vpc = rendered(), rendered(**WITH_VPC)
    functions = _of_type(with_vpc, "AWS::Lambda::Function")
    for name, props in functions.items():
        assert props["VpcConfig"] == {"SubnetIds": ["subnet-0a", "subnet-0b"], "SecurityGroupIds": ["sg-0c"]}, name
    for name, role in _of_type(with_vpc, "AWS::IAM::Role").items():
        if name.endswith("FunctionRole"):
            assert VPC_POLICY in role["ManagedPolicyArns"], name
        before = without[name]["Properties"]
        assert role["Statements"] == before["Statements"], f"{name}: the VPC adds no inline statement"
        # SAM attaches the managed policy whenever VpcConfig is declared, even as an !If that resolves to
        # nothing: the ENI permissions are on the roles in both cases (README, "Run the probe in a VPC").
        assert role.get("ManagedPolicyArns") == before.get("ManagedPolicyArns"), name


def test_rendered_with_a_key_encrypts_table_topic_logs_and_environment_and_grants_exactly_its_use() -> None:
    resources = rendered(KmsKeyArn=KEY_ARN)
    assert resources["StateTable"]["Properties"]["SSESpecification"] == {
        "SSEEnabled": True,
        "SSEType": "KMS",
        "KMSMasterKeyId": KEY_ARN,
    }
    assert resources["NotifyTopic"]["Properties"]["KmsMasterKeyId"] == KEY_ARN
    log_groups = _of_type(resources, "AWS::Logs::LogGroup")
    assert {"ProbeFunctionLogGroup", "RollbackFunctionLogGroup"} <= set(log_groups)
    for name, props in log_groups.items():
        assert props["KmsKeyId"] == KEY_ARN, name
    functions = _of_type(resources, "AWS::Lambda::Function")
    for name, props in functions.items():
        assert props["KmsKeyArn"] == KEY_ARN, name
        assert "VpcConfig" not in props, name
    roles = _of_type(resources, "AWS::IAM::Role")
    for function in functions:
        (statement,) = _kms_statements(roles[f"{function}Role"])
        assert sorted(statement["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
        assert statement["Resource"] == KEY_ARN


def test_vpc_and_key_parameters_are_optional_and_validated() -> None:
    params = TEMPLATE["Parameters"]
    for name in ("SubnetIds", "SecurityGroupIds"):
        assert params[name]["Type"] == "CommaDelimitedList"
        assert params[name]["Default"] == ""
    allowed = re.compile(params["KmsKeyArn"]["AllowedPattern"])
    assert allowed.fullmatch("")
    assert allowed.fullmatch(KEY_ARN)
    assert not allowed.fullmatch("alias/canary-rollback")  # an alias would not scope the IAM statement
    assert resolver().condition("InVpc") is False
    assert resolver(**WITH_VPC).condition("InVpc") is True
    assert resolver(KmsKeyArn=KEY_ARN).condition("HasKmsKey") is True


def _rule_holds(assertion: Any, values: dict[str, list[str]]) -> bool:
    """Evaluate a CloudFormation rule assertion over list parameters (the functions the template uses)."""
    ((function, args),) = assertion.items()
    if function == "Fn::Or":
        return any(_rule_holds(a, values) for a in args)
    if function == "Fn::And":
        return all(_rule_holds(a, values) for a in args)
    if function == "Fn::Not":
        return not _rule_holds(args[0], values)
    items = values[args[0]["Ref"]]
    if function == "Fn::EachMemberEquals":
        return all(item == args[1] for item in items)
    if function == "Fn::Contains":
        return args[1] in items
    raise ValueError(function)


@pytest.mark.parametrize(
    ("subnets", "security_groups", "accepted"),
    [
        ("", "", True),
        ("subnet-0a,subnet-0b", "sg-0c", True),
        ("subnet-0a", "", False),  # Lambda refuses subnets without security groups; say so before deploying
        ("", "sg-0c", False),  # security groups alone would silently leave the functions outside the VPC
        ("subnet-0a,", "sg-0c", False),
    ],
)
def test_subnets_and_security_groups_go_together(subnets: str, security_groups: str, accepted: bool) -> None:
    (assertion,) = TEMPLATE["Rules"]["SubnetsAndSecurityGroupsTogether"]["Assertions"]
    values = {"SubnetIds": subnets.split(","), "SecurityGroupIds": security_groups.split(",")}
    assert _rule_holds(assertion["Assert"], values) is accepted


# ---- the security scan's suppressions, the outputs, the published application --------------------------


def test_every_checkov_suppression_says_why() -> None:
    skips = 0
    for logical_id, resource in RESOURCES.items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), logical_id
            assert len(skip.get("comment", "").split()) >= 8, f"{logical_id} {skip['id']}: give the reason"
            skips += 1
    assert skips >= 1


def test_outputs_a_platform_team_needs() -> None:
    outputs = TEMPLATE["Outputs"]
    assert {"StateTableName", "NotifyTopicArn", "DashboardUrl", "RollbackAlarmArn", "ProbesNotRunningAlarmArn"} <= set(
        outputs
    )
    assert outputs["RollbackAlarmArn"]["Value"] == {"Fn::GetAtt": ["RollbackAlarm", "Arn"]}
    assert outputs["ProbesNotRunningAlarmArn"]["Value"] == {"Fn::GetAtt": ["ProbesNotRunningAlarm", "Arn"]}


def test_serverless_repo_metadata_is_complete_and_matches_the_package() -> None:
    import tomllib

    app = TEMPLATE["Metadata"]["AWS::ServerlessRepo::Application"]
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert app["SemanticVersion"] == version
    assert re.fullmatch(r"[A-Za-z0-9-]{1,140}", app["Name"])
    assert re.fullmatch(r"[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]", app["Author"])
    assert 1 <= len(app["Description"]) <= 256
    assert 1 <= len(app["Labels"]) <= 10
    assert all(re.fullmatch(r"[A-Za-z0-9_:/@-]{1,127}", label) for label in app["Labels"])
    assert app["SpdxLicenseId"] == "Apache-2.0"
    assert (REPO / app["LicenseUrl"]).read_text().lstrip().startswith("Apache License")
    assert (REPO / app["ReadmeUrl"]).is_file()
    for key in ("HomePageUrl", "SourceCodeUrl"):
        assert app[key].startswith("https://"), key


# ---- the fleet example: nested stacks of this template -------------------------------------------------

FLEET = REPO / "examples" / "fleet" / "template.yaml"


def test_fleet_template_is_cfn_lint_clean() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(FLEET)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_fleet_nests_this_template_with_valid_parameters_for_two_distinct_services() -> None:
    from canary_rollback.probe_spec import parse_probes_json

    fleet = load_template(FLEET)
    applications = {n: r for n, r in fleet["Resources"].items() if r["Type"] == "AWS::Serverless::Application"}
    assert len(applications) >= 2
    guarded: set[tuple[str, str]] = set()
    for name, application in applications.items():
        props = application["Properties"]
        assert (FLEET.parent / props["Location"]).resolve() == REPO / "template.yaml", name
        values = props["Parameters"]
        assert set(values) <= set(TEMPLATE["Parameters"]), f"{name} passes a parameter the template lacks"
        for key, value in values.items():
            spec = TEMPLATE["Parameters"][key]
            if not isinstance(value, str):
                continue  # a Ref or Join to the parent's own parameters
            if "AllowedPattern" in spec:
                assert re.fullmatch(spec["AllowedPattern"], value), (name, key, value)
            if "AllowedValues" in spec:
                assert value in [str(v) for v in spec["AllowedValues"]], (name, key, value)
        if "Probes" in values:
            assert parse_probes_json(values["Probes"])
        guarded.add((values["ClusterName"], values["ServiceName"]))
    assert len(guarded) == len(applications)
    assert len({a["Properties"]["Parameters"]["ClusterName"] for a in applications.values()}) >= 2
    assert len({a["Properties"]["Parameters"]["DryRun"] for a in applications.values()}) == 2
    for output in fleet["Outputs"].values():
        application, attribute = output["Value"]["Fn::GetAtt"]
        assert application in applications
        assert attribute.removeprefix("Outputs.") in TEMPLATE["Outputs"]
