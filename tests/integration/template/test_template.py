"""template.yaml is the product: prove it valid, wired to real metrics, and its policies sufficient and scoped."""

from __future__ import annotations

import fnmatch
import functools
import importlib
import json
import re
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
from canary_rollback.rollback.run import RollbackApplication
from canary_rollback.runtime import build_runtime
from demo.world.ecs_simulator import ImageRegistry, fake_digest
from demo.world.local_aws import ACCOUNT, REGION
from demo.world.template import Resolver, load_template, parameter_defaults
from tests.support.clock import SimulatedTime
from tests.support.containers import container_clients
from tests.support.ecr import ecr_image, push_image, register_with_image
from tests.support.events import emf_lines, load_event
from tests.support.iam import STACK, allows, permits, resolver, resource_arns, role_statements
from tests.support.invoke import HOOK, PROBE, ROLLBACK, invoke
from tests.support.paths import REPO
from tests.support.template import sam_cli, sam_env, template
from tests.support.world import alarm_event, break_with_34, make_known_good

TEMPLATE = template()
RESOURCES = TEMPLATE["Resources"]
FUNCTIONS = ("ProbeFunction", "RollbackFunction")


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
    from canary_rollback.core.probe_spec import MAX_TIMEOUT_MS

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
        "NOTIFY_TOPIC_ARN", "PIN_IMAGE_DIGESTS", "WATCH_SECONDS", "WATCH_INTERVAL_SECONDS",
    }  # fmt: skip
    assert spec <= set(env)
    # the default probes parameter is valid probe JSON
    from canary_rollback.core.probe_spec import parse_probes_json

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


def _emitted(text: str) -> tuple[set[tuple[str, str, frozenset[tuple[str, str]]]], set[Any]]:
    """(every metric key in the EMF lines, those stored at high resolution): (namespace, name, dimension set)."""
    emitted: set[tuple[str, str, frozenset[tuple[str, str]]]] = set()
    high_resolution: set[tuple[str, str, frozenset[tuple[str, str]]]] = set()
    for blob in emf_lines(text):
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                dims = frozenset((name, blob[name]) for name in dimension_set)
                for metric in directive["Metrics"]:
                    emitted.add((directive["Namespace"], metric["Name"], dims))
                    if metric.get("StorageResolution") == 1:
                        high_resolution.add((directive["Namespace"], metric["Name"], dims))
    return emitted, high_resolution


def test_every_alarm_on_our_namespace_watches_an_emitted_metric_with_exactly_its_dimensions(
    world: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {**world.stack.function_env, "METRICS_SINK": "emf", "WATCH_SECONDS": "10"}
    runtime = build_runtime(env, clients=container_clients(), clock=world.clock)
    SimulatedTime(world.clock).install(runtime)  # the watch on simulated time
    probe_handler.runtime.set(runtime)
    capsys.readouterr()
    make_known_good(world)  # the promoting run checks rollback readiness: RollbackReady
    world.alb.routes.mlflow_routed = False
    invoke(PROBE, load_event("schedule"))
    scheduled, scheduled_high = _emitted(capsys.readouterr().out)
    watch = invoke(PROBE, load_event("ecs-deployment-in-progress"))
    assert watch["action"] == "watched"
    rounds, rounds_high = _emitted(capsys.readouterr().out)

    namespace = env["POWERTOOLS_METRICS_NAMESPACE"]
    watched: dict[str, tuple[str, str, frozenset[tuple[str, str]]]] = {}
    for logical_id, resource in RESOURCES.items():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        props = resolver().resolve(resource["Properties"])
        if props["Namespace"] != namespace:
            # the functions' own error alarms, and the failure queue's
            assert props["Namespace"] in ("AWS/Lambda", "AWS/SQS"), logical_id
            continue
        key = (props["Namespace"], props["MetricName"], frozenset((d["Name"], d["Value"]) for d in props["Dimensions"]))
        assert key in scheduled | rounds, f"{logical_id} watches {key}, which no probe run or watch round emits"
        if int(props["Period"]) < 60:
            # CloudWatch evaluates a 10/20/30-second period only on metrics stored at StorageResolution 1
            assert key in scheduled_high | rounds_high, (
                f"{logical_id} has a {props['Period']} s period on a standard metric"
            )
        watched[logical_id] = key
    assert set(watched) == {
        "RollbackAlarm", "FastRollbackAlarm", "ProbesNotRunningAlarm", "ProbeErrorsAlarm", "RollbackNotReadyAlarm"
    }  # fmt: skip
    assert watched["RollbackNotReadyAlarm"] in scheduled  # the scheduled runs check readiness, never the rounds
    assert watched["RollbackNotReadyAlarm"] not in rounds
    # The one-minute alarm reads the scheduled runs only; the fast alarm reads the watch's rounds only
    assert watched["RollbackAlarm"] in scheduled
    assert watched["RollbackAlarm"] not in rounds
    assert watched["FastRollbackAlarm"] in rounds
    assert watched["FastRollbackAlarm"] not in scheduled


def test_the_fast_and_the_standard_rollback_alarm_watch_the_same_metric_of_their_own_sources() -> None:
    fast = resolver().resolve(RESOURCES["FastRollbackAlarm"]["Properties"])
    standard = resolver().resolve(RESOURCES["RollbackAlarm"]["Properties"])
    same = ("Namespace", "MetricName", "Statistic", "Threshold", "ComparisonOperator")
    assert {k: fast[k] for k in same} == {k: standard[k] for k in same}
    assert standard["Dimensions"] == [{"Name": "service", "Value": STACK}]  # scheduled runs
    assert fast["Dimensions"] == [{"Name": "service", "Value": STACK}, {"Name": "Source", "Value": "watch"}]
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
    # even at the slowest interval a user may choose, the rounds in one alarm window can reach M
    slowest = int(TEMPLATE["Parameters"]["WatchIntervalSeconds"]["MaxValue"])
    assert (n * period) // slowest >= m, f"WatchIntervalSeconds {slowest} s can never fire a {m}-of-{n} alarm"


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
    from canary_rollback.watch.lease import DEPLOYMENT_EVENT_NAMES

    assert set(pattern["detail"]["eventName"]) == DEPLOYMENT_EVENT_NAMES
    # the sample event matches the rule as written
    from demo.world.delivery import EventRule

    assert EventRule(pattern).matches(load_event("ecs-deployment-in-progress"))
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
    fast = resolver().resolve(RESOURCES["FastRollbackAlarm"]["Properties"])
    shown = ["CanaryRollback", "ProbeFailures", *(part for d in fast["Dimensions"] for part in (d["Name"], d["Value"]))]
    assert ten_second[0]["properties"]["metrics"] == [shown]  # what the fast alarm reads


# ---- asynchronous invocation: no alarm dropped silently, no run counted twice -----------------------


def test_async_invoke_settings_follow_the_alarm_age_and_park_failures_in_an_alarmed_queue() -> None:
    resolve = resolver()
    rollback = resolve.resolve(RESOURCES["RollbackFunction"]["Properties"])
    config = rollback["EventInvokeConfig"]
    max_age = int(parameter_defaults(TEMPLATE)["MaxAlarmAgeSeconds"])
    assert int(config["MaximumEventAgeInSeconds"]) <= max_age
    assert int(config["MaximumRetryAttempts"]) in (1, 2)
    on_failure = config["DestinationConfig"]["OnFailure"]
    assert (on_failure["Type"], on_failure["Destination"]) == ("SQS", resolve.refs["RollbackFailureQueue.Arn"])
    alarm = resolve.resolve(RESOURCES["RollbackFailureQueueAlarm"]["Properties"])
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": resolve.refs["RollbackFailureQueue.QueueName"]}]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
    assert alarm["AlarmActions"] == [resolve.refs["NotifyTopic"]]
    probe = RESOURCES["ProbeFunction"]["Properties"]
    assert probe["EventInvokeConfig"]["MaximumRetryAttempts"] == 0


def test_the_lock_lease_is_the_rollback_timeout_plus_30_seconds() -> None:
    env = resolver().resolve(TEMPLATE["Globals"]["Function"]["Environment"]["Variables"])
    assert int(env["ROLLBACK_LOCK_LEASE_SECONDS"]) == RESOURCES["RollbackFunction"]["Properties"]["Timeout"] + 30
    assert env["MAX_ALARM_AGE_SECONDS"] == parameter_defaults(TEMPLATE)["MaxAlarmAgeSeconds"]


# ---- policies: sufficient (every call the code makes) and scoped ------------------------------------


def test_no_wildcard_actions_and_scoped_sensitive_statements() -> None:
    resolve = resolver()
    for function in FUNCTIONS:
        for statement in role_statements(function, resolve):
            for action in statement["Action"]:
                assert "*" not in action, (function, action)
    service_arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/hokusai-development/hokusai-api"
    rollback = role_statements("RollbackFunction", resolve)
    (update,) = allows(rollback, "ecs:UpdateService")
    assert update["Resource"] == service_arn
    (pass_role,) = allows(rollback, "iam:PassRole")
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}
    (tag,) = allows(rollback, "ecs:TagResource")
    assert tag["Condition"] == {"StringEquals": {"ecs:CreateAction": "RegisterTaskDefinition"}}
    for function in FUNCTIONS:
        (metrics,) = allows(role_statements(function, resolve), "cloudwatch:PutMetricData")
        assert metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": "CanaryRollback"}}
        (describe,) = allows(role_statements(function, resolve), "ecs:DescribeServices")
        assert describe["Resource"] == service_arn
        (publish,) = allows(role_statements(function, resolve), "sns:Publish")
        assert publish["Resource"] == f"arn:aws:sns:{REGION}:{ACCOUNT}:{STACK}-NotifyTopic"


def test_probe_reads_only_the_guarded_clusters_tasks() -> None:
    probe = role_statements("ProbeFunction", resolver())
    (list_tasks,) = allows(probe, "ecs:ListTasks")
    assert list_tasks["Action"] == ["ecs:ListTasks"]
    cluster_arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/hokusai-development"
    assert list_tasks["Condition"] == {"ArnEquals": {"ecs:cluster": cluster_arn}}
    (describe_tasks,) = allows(probe, "ecs:DescribeTasks")
    assert describe_tasks["Action"] == ["ecs:DescribeTasks"]
    assert describe_tasks["Resource"] == f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/hokusai-development/*"
    # nothing that changes ECS: the probe only reads
    for action in ("ecs:UpdateService", "ecs:RegisterTaskDefinition", "ecs:TagResource", "iam:PassRole"):
        assert not allows(probe, action), action


def test_probes_parameter_statement_follows_the_parameter() -> None:
    without = allows(role_statements("ProbeFunction", resolver()), "ssm:GetParameter")[0]["Resource"]
    assert without == [f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/canary-rollback/*"]
    with_param = allows(
        role_statements("ProbeFunction", resolver(ProbesParameterName="/team/probes")), "ssm:GetParameter"
    )[0]["Resource"]
    assert f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/team/probes" in with_param


def test_every_aws_call_the_code_makes_is_allowed_by_its_functions_policy(world: Any) -> None:
    """Each recorded call is checked as IAM would for this template: the action, the ARN built from the
    request (wildcards matched), and the condition keys the template uses. Not a full policy simulator:
    SAM's generated statements (logs, the failure destination) and service-side calls are not recorded."""
    # Given both functions with every AWS call recorded, through the whole loop plus the rarer paths
    calls: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    registry = ImageRegistry({f"hokusai/api:build-{n}": fake_digest(f"build-{n}") for n in range(30, 35)})
    world.simulator.with_tasks(registry)  # running tasks report digests: the snapshot reads them

    def recorder(function: str) -> AwsClients:
        return container_clients(on_call=lambda *call: calls[function].append(call))

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
    # a 30 s watch: its three rounds make every call thirty would (lease, heartbeats, rounds, release)
    env = {
        **world.stack.function_env,
        "PROBES": "",
        "PROBES_PARAMETER": "/canary-rollback/probes",
        "WATCH_SECONDS": "30",
    }
    probe_runtime = build_runtime(env, clients=recorder("ProbeFunction"), clock=world.clock)
    SimulatedTime(world.clock).install(probe_runtime)  # a watch on simulated time
    probe_handler.runtime.set(probe_runtime)
    rollback_handler.application.set(
        RollbackApplication(
            build_runtime(env, need_probes=False, clients=recorder("RollbackFunction"), clock=world.clock)
        )
    )
    make_known_good(world)
    break_with_34(world)
    boto3.client("ecs").deregister_task_definition(taskDefinition=world.revisions[31])  # forces the copy path
    response = invoke(ROLLBACK, alarm_event(world))
    assert response["action"] == "rolled_back"
    world.minute()
    world.advance_rollout()
    assert world.probe_run()["ok"]  # recovery: RecoverySeconds + notification
    watch = invoke(PROBE, load_event("ecs-deployment-in-progress"))
    assert watch["action"] == "watched"  # the deployment watch: lease, heartbeats, rounds
    # rollback readiness of a known-good whose image is in ECR (docs/readiness.md): DescribeImages, GetRole
    image = ecr_image("hokusai/api", "build-40")
    registry.push(image, push_image("hokusai/api", "build-40"))
    world.simulator.deploy("hokusai-development", "hokusai-api", register_with_image(world.revisions[31], image))
    world.minute()
    world.advance_rollout()
    make_known_good(world)

    # Then IAM, evaluated on each call's action, resource ARN and conditions, allows every one of them
    alarm_arn = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{world.stack.alarm_names['RollbackAlarm']}"
    table_arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{world.stack.table_name}"
    resolve = resolver(
        ProbesParameterName="/canary-rollback/probes",
        NotifyTopic=world.stack.topic_arn,
        **{"RollbackAlarm.Arn": alarm_arn, "StateTable.Arn": table_arn},
    )
    iam_prefix = {"monitoring": "cloudwatch"}
    checked: dict[str, set[str]] = defaultdict(set)
    for function in FUNCTIONS:
        statements = role_statements(function, resolve)
        assert calls[function], f"nothing recorded for {function}"
        for service, operation, params in calls[function]:
            action = f"{iam_prefix.get(service, service)}:{operation}"
            for arn in resource_arns(service, operation, params):
                assert any(permits(s, action, arn, params) for s in statements), (
                    f"{function} calls {action} on {arn} but its policy does not allow it"
                )
            checked[function].add(action)
    assert {"ecs:UpdateService", "ecs:RegisterTaskDefinition", "dynamodb:PutItem", "cloudwatch:DescribeAlarms"} <= (
        checked["RollbackFunction"]
    )
    assert {"ssm:GetParameter", "secretsmanager:GetSecretValue", "sns:Publish"} <= checked["ProbeFunction"]
    assert "events:PutEvents" in checked["RollbackFunction"]
    assert "events:PutEvents" in checked["ProbeFunction"]  # the recovery verdict
    assert {"ecs:ListTasks", "ecs:DescribeTasks", "ecs:DescribeTaskDefinition"} <= checked["ProbeFunction"]
    assert "dynamodb:UpdateItem" in checked["ProbeFunction"]  # the watch's heartbeat
    assert {"ecr:DescribeImages", "iam:GetRole"} <= checked["ProbeFunction"]  # rollback readiness


def test_the_policy_check_rejects_calls_outside_the_statements_scope() -> None:
    # The check above must be able to fail: another service, another table, another namespace are refused.
    resolve = resolver()
    rollback = role_statements("RollbackFunction", resolve)
    other_service = resource_arns("ecs", "UpdateService", {"cluster": "hokusai-development", "service": "billing"})[0]
    assert not any(permits(s, "ecs:UpdateService", other_service, {}) for s in rollback)
    other_table = resource_arns("dynamodb", "PutItem", {"TableName": "someone-elses"})[0]
    assert not any(permits(s, "dynamodb:PutItem", other_table, {}) for s in rollback)
    assert not any(permits(s, "cloudwatch:PutMetricData", "*", {"Namespace": "AWS/ECS"}) for s in rollback)
    assert any(permits(s, "cloudwatch:PutMetricData", "*", {"Namespace": "CanaryRollback"}) for s in rollback)
    other_alarm = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:someone-elses-alarm"
    assert not any(permits(s, "cloudwatch:DescribeAlarms", other_alarm, {}) for s in rollback)
    probe = role_statements("ProbeFunction", resolve)
    other_cluster = {"cluster": "billing", "serviceName": "hokusai-api"}
    assert not any(permits(s, "ecs:ListTasks", "*", other_cluster) for s in probe)
    assert any(permits(s, "ecs:ListTasks", "*", {"cluster": "hokusai-development"}) for s in probe)


def test_secret_resources_match_the_prefix_convention() -> None:
    statements = role_statements("ProbeFunction", resolver())
    (secrets,) = allows(statements, "secretsmanager:GetSecretValue")
    arn = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:canary-rollback/mlflow-token-AbCdEf"
    assert fnmatch.fnmatch(arn, secrets["Resource"])
    assert not fnmatch.fnmatch(
        f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:prod/db-password", secrets["Resource"]
    )


# ---- the deployment hook (README, "Gate blue/green deployments") -----------------------------------

HOOK_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{STACK}-DeploymentHookFunction"


def test_hook_function_resolves_and_fits_the_probe_budget() -> None:
    from canary_rollback.core.probe_spec import MAX_TIMEOUT_MS

    props = RESOURCES[HOOK]["Properties"]
    module_name, attribute = props["Handler"].rsplit(".", 1)
    assert module_name == "canary_rollback.handlers.hook"
    code_uri = REPO / TEMPLATE["Globals"]["Function"]["CodeUri"]
    assert (code_uri / (module_name.replace(".", "/") + ".py")).is_file()
    assert callable(getattr(importlib.import_module(module_name), attribute))
    assert MAX_TIMEOUT_MS / 1000 + 20 <= props["Timeout"] <= 900
    env = resolver().resolve(props["Environment"]["Variables"])
    assert env == {"HOOK_PASSES_REQUIRED": "3", "HOOK_INTERVAL_SECONDS": "10"}
    for name in ("hook-post-test-traffic-shift", "hook-post-production-traffic-shift"):
        assert load_event(name)["executionDetails"]["serviceArn"].endswith(":service/hokusai-development/hokusai-api")


def test_hook_role_lets_ecs_invoke_the_hook_and_nothing_else() -> None:
    role = resolver().resolve(RESOURCES["DeploymentHookRole"]["Properties"])
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust == {"Effect": "Allow", "Principal": {"Service": ["ecs.amazonaws.com"]}, "Action": ["sts:AssumeRole"]}
    statements = [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    assert [(s["Effect"], s["Action"], s["Resource"]) for s in statements] == [
        ("Allow", ["lambda:InvokeFunction"], HOOK_ARN)
    ]
    assert "ManagedPolicyArns" not in role


def test_hook_outputs_name_the_function_and_the_role() -> None:
    outputs = TEMPLATE["Outputs"]
    assert outputs["DeploymentHookFunctionArn"]["Value"] == {"Fn::GetAtt": [HOOK, "Arn"]}
    assert outputs["DeploymentHookRoleArn"]["Value"] == {"Fn::GetAtt": ["DeploymentHookRole", "Arn"]}


def test_hook_policy_is_scoped() -> None:
    statements = role_statements(HOOK, resolver())
    actions = {action for s in statements for action in s["Action"]}
    assert actions == {
        "dynamodb:GetItem",  # the pause flag: while paused the gate answers SUCCEEDED
        "dynamodb:PutItem",
        "cloudwatch:PutMetricData",
        "sns:Publish",
        "events:PutEvents",  # the failed gate's decision event, on the default bus only
        "secretsmanager:GetSecretValue",
        "ssm:GetParameter",
    }  # no ECS action at all: ECS itself rolls a failed gate back
    (table,) = allows(statements, "dynamodb:PutItem")
    assert table["Resource"] == f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{STACK}-StateTable"
    (metrics,) = allows(statements, "cloudwatch:PutMetricData")
    assert metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": "CanaryRollback"}}
    (publish,) = allows(statements, "sns:Publish")
    assert publish["Resource"] == f"arn:aws:sns:{REGION}:{ACCOUNT}:{STACK}-NotifyTopic"
    probe_secrets = allows(role_statements("ProbeFunction", resolver()), "secretsmanager:GetSecretValue")
    assert allows(statements, "secretsmanager:GetSecretValue") == probe_secrets


def test_no_alarm_watches_what_the_hook_emits(world: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from canary_rollback.handlers import hook as hook_handler

    # Given the hook failing a deployment through the test listener (EMF, as in Lambda)
    probes = json.loads(world.stack.function_env["PROBES"])
    probes[0]["test_url"] = probes[0]["url"]
    world.alb.routes.mlflow_routed = False
    env = {**world.stack.function_env, "METRICS_SINK": "emf", "PROBES": json.dumps(probes)}
    hook_handler.runtime.set(build_runtime(env, clients=container_clients(), clock=world.clock))
    try:
        answer = invoke(HOOK, load_event("hook-post-test-traffic-shift"))
    finally:
        hook_handler.runtime.set(None)
    assert answer["hookStatus"] == "FAILED"
    emitted: set[tuple[str, frozenset[tuple[str, str]]]] = set()
    for blob in emf_lines(capsys.readouterr().out):
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                for metric in directive["Metrics"]:
                    emitted.add((metric["Name"], frozenset((name, blob[name]) for name in dimension_set)))
    assert emitted

    # Then no alarm of the stack watches any of it: ECS rolls back by itself, the rollback alarm stays quiet
    for logical_id, resource in RESOURCES.items():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        props = resolver().resolve(resource["Properties"])
        key = (props["MetricName"], frozenset((d["Name"], d["Value"]) for d in props["Dimensions"]))
        assert key not in emitted, logical_id


def test_every_aws_call_the_hook_makes_is_allowed_by_its_policy(world: Any, json_logs: list[Any]) -> None:
    from canary_rollback.handlers import hook as hook_handler

    # Given the hook with every AWS call recorded, probes from SSM with both kinds of secret, a failing test route
    recorded: list[tuple[Any, ...]] = []
    clients = container_clients(on_call=lambda *call: recorded.append(call))
    boto3.client("secretsmanager").create_secret(Name="canary-rollback/mlflow-token", SecretString="t")
    boto3.client("ssm").put_parameter(Name="/canary-rollback/basic", Value="u:p", Type="SecureString")
    url = json.loads(world.stack.function_env["PROBES"])[0]["url"]
    common = {"url": url, "test_url": url, "expect_status": [401]}
    probes = [
        {"name": "authed", **common, "auth_secret": "canary-rollback/mlflow-token"},
        {"name": "basic", **common, "auth_secret": "ssm:/canary-rollback/basic", "auth_scheme": "Basic"},
    ]
    boto3.client("ssm").put_parameter(Name="/canary-rollback/probes", Value=json.dumps(probes), Type="String")
    env = {**world.stack.function_env, "PROBES": "", "PROBES_PARAMETER": "/canary-rollback/probes"}
    hook_handler.runtime.set(build_runtime(env, clients=clients, clock=world.clock))
    world.alb.routes.mlflow_routed = False
    try:
        # When it answers a test stage (FAILED: audit, metrics, notification) and a stage it does not probe
        failed = invoke(HOOK, load_event("hook-post-test-traffic-shift"))
        scale_up = {**load_event("hook-post-test-traffic-shift"), "lifecycleStage": "POST_SCALE_UP"}
        passed = invoke(HOOK, scale_up)
    finally:
        hook_handler.runtime.set(None)
    assert (failed["hookStatus"], passed["hookStatus"]) == ("FAILED", "SUCCEEDED")
    assert not [line for line in json_logs if line["level"] == "ERROR"]  # nothing was refused

    # Then IAM, evaluated on each call's action, resource ARN and conditions, allows every one of them
    statements = role_statements(
        HOOK,
        resolver(
            ProbesParameterName="/canary-rollback/probes",
            NotifyTopic=world.stack.topic_arn,
            **{"StateTable.Arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{world.stack.table_name}"},
        ),
    )
    calls: set[str] = set()
    for service, operation, params in recorded:
        action = f"{'cloudwatch' if service == 'monitoring' else service}:{operation}"
        for arn in resource_arns(service, operation, params):
            assert any(permits(s, action, arn, params) for s in statements), f"{HOOK} calls {action} on {arn}"
        calls.add(action)
    assert {
        "dynamodb:PutItem",
        "sns:Publish",
        "ssm:GetParameter",
        "secretsmanager:GetSecretValue",
        "cloudwatch:PutMetricData",  # the demo world's sink is `cloudwatch`
        "events:PutEvents",  # the failed gate's decision event
    } <= calls


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


def _kmsstatements(role: dict[str, Any]) -> list[dict[str, Any]]:
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
        assert _kmsstatements(role) == [], name


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
        (statement,) = _kmsstatements(roles[f"{function}Role"])
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
    from canary_rollback.core.probe_spec import parse_probes_json

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
