"""template.yaml for rollback readiness (docs/readiness.md): the alarm only notifies, the IAM it adds is scoped,
the interval reaches the functions."""

from __future__ import annotations

from canary_rollback.core.config import load_settings
from demo.world.local_aws import ACCOUNT, REGION
from demo.world.template import parameter_defaults
from tests.integration.test_template import (
    RESOURCES,
    TEMPLATE,
    _allows,
    _permits,
    _resource_arns,
    _statements,
    resolver,
)


def test_the_not_ready_alarm_notifies_only_and_keeps_its_state_between_checks() -> None:
    alarm = resolver().resolve(RESOURCES["RollbackNotReadyAlarm"]["Properties"])
    assert (alarm["MetricName"], alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == (
        "RollbackReady", "Minimum", "LessThanThreshold", 1,
    )  # fmt: skip
    assert alarm["TreatMissingData"] == "ignore"  # no check in a period (or one that could not finish): no news
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:canary-rollback-NotifyTopic"
    assert alarm["AlarmActions"] == [topic]
    assert alarm["OKActions"] == [topic]
    # never a rollback trigger: the rollback rule names only the two rollback alarms
    for function in ("ProbeFunction", "RollbackFunction", "DeploymentHookFunction"):
        for event in RESOURCES[function]["Properties"].get("Events", {}).values():
            assert "RollbackNotReadyAlarm" not in str(event), function


def test_the_interval_parameter_reaches_the_functions_and_its_bounds_match_the_code() -> None:
    env = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert env["READINESS_INTERVAL_SECONDS"] == {"Ref": "ReadinessIntervalSeconds"}
    parameter = TEMPLATE["Parameters"]["ReadinessIntervalSeconds"]
    for value in (parameter["MinValue"], parameter["Default"], parameter["MaxValue"]):
        env = {"PROBES": TEMPLATE["Parameters"]["Probes"]["Default"], "READINESS_INTERVAL_SECONDS": str(value)}
        settings = load_settings(env)
        assert settings.readiness_interval_seconds == value


def test_readiness_iam_is_read_only_and_scoped_to_this_accounts_repositories_and_roles() -> None:
    probe = _statements("ProbeFunction", resolver())
    (images,) = _allows(probe, "ecr:DescribeImages")
    assert images["Action"] == ["ecr:DescribeImages"]  # metadata only: no BatchGetImage, no layers
    assert images["Resource"] == f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/*"
    (roles,) = _allows(probe, "iam:GetRole")
    assert roles["Action"] == ["iam:GetRole"]
    assert roles["Resource"] == f"arn:aws:iam::{ACCOUNT}:role/*"
    for function in ("RollbackFunction", "DeploymentHookFunction"):  # only the probe run checks readiness
        statements = _statements(function, resolver())
        assert not _allows(statements, "ecr:DescribeImages")
        assert not _allows(statements, "iam:GetRole")


def test_the_repository_pattern_narrows_describe_images_and_other_accounts_are_refused() -> None:
    assert parameter_defaults(TEMPLATE)["EcrRepositoryPattern"] == "*"
    narrowed = _statements("ProbeFunction", resolver(EcrRepositoryPattern="hokusai/*"))

    def allowed(params: dict[str, str]) -> bool:
        (arn,) = _resource_arns("ecr", "DescribeImages", params)
        return any(_permits(s, "ecr:DescribeImages", arn, params) for s in narrowed)

    assert allowed({"repositoryName": "hokusai/api", "registryId": ACCOUNT})
    assert not allowed({"repositoryName": "billing/api", "registryId": ACCOUNT})
    assert not allowed({"repositoryName": "hokusai/api", "registryId": "999999999999"})
