"""template.yaml is the product: prove it valid, wired to real metrics, and its policies sufficient and scoped."""

from __future__ import annotations

import fnmatch
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
from demo.ecs_simulator import ImageRegistry, fake_digest
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
        "NOTIFY_TOPIC_ARN", "PIN_IMAGE_DIGESTS",
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
    for policy in RESOURCES[function]["Properties"]["Policies"]:
        statements += resolve.resolve(policy)["Statement"]
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


def test_probe_reads_only_the_guarded_clusters_tasks() -> None:
    probe = _statements("ProbeFunction", resolver())
    (list_tasks,) = _allows(probe, "ecs:ListTasks")
    assert list_tasks["Action"] == ["ecs:ListTasks"]
    cluster_arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/hokusai-development"
    assert list_tasks["Condition"] == {"ArnEquals": {"ecs:cluster": cluster_arn}}
    (describe_tasks,) = _allows(probe, "ecs:DescribeTasks")
    assert describe_tasks["Action"] == ["ecs:DescribeTasks"]
    assert describe_tasks["Resource"] == f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/hokusai-development/*"
    # nothing that changes ECS: the probe only reads
    for action in ("ecs:UpdateService", "ecs:RegisterTaskDefinition", "ecs:TagResource", "iam:PassRole"):
        assert not _allows(probe, action), action


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
    registry = ImageRegistry({f"hokusai/api:build-{n}": fake_digest(f"build-{n}") for n in range(30, 35)})
    world.simulator.with_tasks(registry)  # running tasks report digests: the snapshot reads them

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
    assert {"ecs:ListTasks", "ecs:DescribeTasks", "ecs:DescribeTaskDefinition"} <= calls["ProbeFunction"]


def test_secret_resources_match_the_prefix_convention() -> None:
    statements = _statements("ProbeFunction", resolver())
    (secrets,) = _allows(statements, "secretsmanager:GetSecretValue")
    arn = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:canary-rollback/mlflow-token-AbCdEf"
    assert fnmatch.fnmatch(arn, secrets["Resource"])
    assert not fnmatch.fnmatch(
        f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:prod/db-password", secrets["Resource"]
    )
