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
    for name in (
        "schedule", "alarm-state-change", "alarm-lambda-action", "alarm-sns", "alarm-ok", "ecs-deployment-in-progress"
    ):  # fmt: skip
        assert isinstance(load_event(name), dict)


def test_environment_covers_the_spec_variables() -> None:
    env = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    spec = {
        "PROBES", "PROBES_PARAMETER", "METRICS_SINK", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_SERVICE_NAME",
        "CLUSTER_NAME", "SERVICE_NAME", "STATE_TABLE", "KNOWN_GOOD_AFTER", "ROLLBACK_COOLDOWN_SECONDS", "DRY_RUN",
        "NOTIFY_TOPIC_ARN", "WATCH_SECONDS", "WATCH_INTERVAL_SECONDS",
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
    assert rule["resources"] == [{"Fn::GetAtt": ["RollbackAlarm", "Arn"]}, {"Fn::GetAtt": ["FastRollbackAlarm", "Arn"]}]
    assert RESOURCES["FastRollbackAlarm"]["Properties"]["TreatMissingData"] == "notBreaching"
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
    high_resolution: set[tuple[str, str, frozenset[tuple[str, str]]]] = set()
    for blob in emf_lines(capsys.readouterr().out):
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                dims = frozenset((name, blob[name]) for name in dimension_set)
                for metric in directive["Metrics"]:
                    emitted.add((directive["Namespace"], metric["Name"], dims))
                    if metric.get("StorageResolution") == 1:
                        high_resolution.add((directive["Namespace"], metric["Name"], dims))

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
        if int(props["Period"]) < 60:
            # CloudWatch evaluates a 10/20/30-second period only on metrics stored at StorageResolution 1
            assert key in high_resolution, f"{logical_id} has a {props['Period']} s period on a standard metric"
        watched += 1
    assert watched == 4  # RollbackAlarm, FastRollbackAlarm, ProbesNotRunningAlarm, ProbeErrorsAlarm


def test_the_fast_and_the_standard_rollback_alarm_watch_the_same_metric() -> None:
    fast = resolver().resolve(RESOURCES["FastRollbackAlarm"]["Properties"])
    standard = resolver().resolve(RESOURCES["RollbackAlarm"]["Properties"])
    same = ("Namespace", "MetricName", "Dimensions", "Statistic", "Threshold", "ComparisonOperator")
    assert {k: fast[k] for k in same} == {k: standard[k] for k in same}
    assert standard["Period"] == 60  # the standard alarm is unchanged: failures between deploys


# ---- the deployment watch (README, "Deployment watch") --------------------------------------------------


def test_fast_alarm_is_high_resolution_within_a_minute_and_silent_between_watches() -> None:
    fast = RESOURCES["FastRollbackAlarm"]["Properties"]
    period, n, m = fast["Period"], fast["EvaluationPeriods"], fast["DatapointsToAlarm"]
    assert period in (10, 20, 30)
    assert 1 <= m <= n
    assert n * period <= 60  # detection within a minute of the first failing round
    assert fast["TreatMissingData"] == "notBreaching"
    # Scheduled runs put at most 2 datapoints into any 60 s window (one a minute, jitter aside): M >= 3 means
    # only a watch's rounds can fire it.
    assert m >= 3
    # and the watch's rounds give every period a datapoint
    interval = int(parameter_defaults(TEMPLATE)["WatchIntervalSeconds"])
    assert interval <= period


def test_both_rollback_alarms_reach_the_rollback_function_through_one_rule() -> None:
    events = RESOURCES["RollbackFunction"]["Properties"]["Events"]
    rules = [e for e in events.values() if e["Type"] == "EventBridgeRule"]
    assert len(rules) == 1
    arns = resolver(**{"RollbackAlarm.Arn": "arn:slow", "FastRollbackAlarm.Arn": "arn:fast"}).resolve(
        rules[0]["Properties"]["Pattern"]["resources"]
    )
    assert arns == ["arn:slow", "arn:fast"]
    for name in ("RollbackAlarm", "FastRollbackAlarm"):  # neither alarm calls the function any other way
        assert RESOURCES[name]["Properties"]["AlarmActions"] == [{"Ref": "NotifyTopic"}]


def test_ecs_deployment_events_of_the_guarded_service_reach_the_probe_function() -> None:
    events = RESOURCES["ProbeFunction"]["Properties"]["Events"]
    rule = events["DeploymentEvents"]
    assert rule["Type"] == "EventBridgeRule"
    pattern = resolver().resolve(rule["Properties"]["Pattern"])
    assert pattern["source"] == ["aws.ecs"]
    assert pattern["detail-type"] == ["ECS Deployment State Change"]
    assert pattern["resources"] == [f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/hokusai-development/hokusai-api"]
    from canary_rollback.watch import DEPLOYMENT_EVENT_NAMES

    assert set(pattern["detail"]["eventName"]) == DEPLOYMENT_EVENT_NAMES
    # the sample event matches the rule as written
    from demo.world import eventbridge_rule_matches

    assert eventbridge_rule_matches(pattern, load_event("ecs-deployment-in-progress"))
    # turning the watch off turns the rule off, nothing else
    assert resolver().resolve(rule["Properties"]["State"]) == "ENABLED"
    assert resolver(DeploymentWatch="DISABLED").resolve(rule["Properties"]["State"]) == "DISABLED"


def test_the_watching_function_outlives_the_longest_watch() -> None:
    timeout = RESOURCES["ProbeFunction"]["Properties"]["Timeout"]
    watch = TEMPLATE["Parameters"]["WatchSeconds"]
    assert timeout <= 900
    assert timeout >= int(watch["MaxValue"]) + 60
    assert timeout >= int(watch["Default"]) + 60
    interval = TEMPLATE["Parameters"]["WatchIntervalSeconds"]
    assert int(interval["MaxValue"]) <= int(watch["MinValue"])  # the config refuses an interval over the watch
    env = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert env["WATCH_SECONDS"] == {"Ref": "WatchSeconds"}
    assert env["WATCH_INTERVAL_SECONDS"] == {"Ref": "WatchIntervalSeconds"}


def test_dashboard_is_json_and_shows_the_fast_alarm_and_ten_second_failures() -> None:
    body = resolver(
        **{
            f"{name}.Arn": f"arn:{name}"
            for name in ("RollbackAlarm", "FastRollbackAlarm", "ProbesNotRunningAlarm", "ProbeErrorsAlarm")
        }
    ).resolve(RESOURCES["Dashboard"]["Properties"]["DashboardBody"])
    widgets = json.loads(body)["widgets"]
    alarms = next(w for w in widgets if w["type"] == "alarm")["properties"]["alarms"]
    assert "arn:FastRollbackAlarm" in alarms
    assert "arn:RollbackAlarm" in alarms
    ten_second = [w for w in widgets if w["type"] == "metric" and w["properties"].get("period") == 10]
    assert len(ten_second) == 1
    assert ten_second[0]["properties"]["metrics"] == [["CanaryRollback", "ProbeFailures", "service", STACK]]


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
    probe_runtime = build_runtime(env, clients=recorder("ProbeFunction"), clock=world.clock)
    probe_runtime.monotonic, probe_runtime.sleep = world.sim_monotonic, world.sim_sleep  # a watch on sim time
    probe_handler.runtime.set(probe_runtime)
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
    watch = probe_handler.handler(load_event("ecs-deployment-in-progress"), FakeLambdaContext("ProbeFunction", 420))
    assert watch["action"] == "watched"  # the deployment watch: lease, heartbeats, rounds

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
    assert {"ssm:GetParameter", "secretsmanager:GetSecretValue", "sns:Publish", "dynamodb:UpdateItem"} <= calls[
        "ProbeFunction"
    ]


def test_secret_resources_match_the_prefix_convention() -> None:
    statements = _statements("ProbeFunction", resolver())
    (secrets,) = _allows(statements, "secretsmanager:GetSecretValue")
    arn = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:canary-rollback/mlflow-token-AbCdEf"
    assert fnmatch.fnmatch(arn, secrets["Resource"])
    assert not fnmatch.fnmatch(
        f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:prod/db-password", secrets["Resource"]
    )
