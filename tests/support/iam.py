"""template.yaml's IAM, evaluated as IAM would for a recorded AWS call: the statements a function's role gets
for given parameter values, whether one of them allows an action on a resource ARN under the template's
condition keys, and the ARN(s) IAM evaluates for a call, built from its request as AWS documents it.

Not a full policy simulator: SAM's generated statements (logs, the failure destination) and service-side calls
are not modelled; a condition key this template does not use fails closed.
"""

from __future__ import annotations

import fnmatch
from typing import Any

from demo.world.local_aws import ACCOUNT, REGION
from demo.world.template import Resolver, parameter_defaults
from tests.support.template import template

STACK = "canary-rollback"


def resolver(**overrides: str) -> Resolver:
    """The template's intrinsics resolved for stack `canary-rollback` with its default parameters (`overrides`
    for parameters, or for the ARN of a resource as moto named it)."""
    refs = {
        **parameter_defaults(template()),
        "AWS::StackName": STACK,
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT,
        "AWS::Partition": "aws",
        "StateTable": f"{STACK}-StateTable",
        "StateTable.Arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{STACK}-StateTable",
        "NotifyTopic": f"arn:aws:sns:{REGION}:{ACCOUNT}:{STACK}-NotifyTopic",
        "ProbeFunction": f"{STACK}-ProbeFunction",
        "RollbackFunction": f"{STACK}-RollbackFunction",
        "RollbackAlarm.Arn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{STACK}-RollbackAlarm",
        "FastRollbackAlarm.Arn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{STACK}-FastRollbackAlarm",
        "RollbackAlarm": f"{STACK}-RollbackAlarm",
        "FastRollbackAlarm": f"{STACK}-FastRollbackAlarm",
        "RollbackFailureQueue.Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{STACK}-RollbackFailureQueue",
        "RollbackFailureQueue": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{STACK}-RollbackFailureQueue",
        "RollbackFailureQueue.QueueName": f"{STACK}-RollbackFailureQueue",
        "DeploymentHookFunction": f"{STACK}-DeploymentHookFunction",
        "DeploymentHookFunction.Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{STACK}-DeploymentHookFunction",
        **overrides,
    }
    return Resolver(template(), refs)


def role_statements(function: str, resolve: Resolver) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    for policy in resolve.resolve(
        template()["Resources"][function]["Properties"]["Policies"]
    ):  # conditional ones drop out
        statements += policy["Statement"]
    return statements


def allows(statements: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    """The statements that allow `action` on some resource."""
    return [s for s in statements if s["Effect"] == "Allow" and action in s["Action"]]


def resource_arns(service: str, operation: str, params: dict[str, Any]) -> list[str]:
    """The ARN(s) IAM evaluates for one recorded call, built from its request as AWS documents it.
    ["*"] for actions without resource-level permissions (PutMetricData, DescribeTaskDefinition...)."""
    region_account = f"{REGION}:{ACCOUNT}"
    if service == "ecs" and operation in ("DescribeServices", "UpdateService"):
        names = params.get("services") or [params["service"]]
        return [f"arn:aws:ecs:{region_account}:service/{params['cluster']}/{name}" for name in names]
    if service == "ecs" and operation == "DescribeTasks":
        return [
            t if t.startswith("arn:") else f"arn:aws:ecs:{region_account}:task/{params['cluster']}/{t}"
            for t in params["tasks"]
        ]
    if service == "dynamodb":
        return [f"arn:aws:dynamodb:{region_account}:table/{params['TableName']}"]
    if service == "sns":
        return [params["TopicArn"]]
    if service in ("cloudwatch", "monitoring") and operation == "DescribeAlarms":
        return [f"arn:aws:cloudwatch:{region_account}:alarm:{name}" for name in params["AlarmNames"]]
    if service == "ecr":
        registry = params.get("registryId", ACCOUNT)
        return [f"arn:aws:ecr:{region_account.split(':')[0]}:{registry}:repository/{params['repositoryName']}"]
    if service == "iam" and operation == "GetRole":
        return [f"arn:aws:iam::{ACCOUNT}:role/{params['RoleName']}"]
    if service == "secretsmanager":
        return [f"arn:aws:secretsmanager:{region_account}:secret:{params['SecretId']}-AbCdEf"]  # the random suffix
    if service == "ssm":
        return [f"arn:aws:ssm:{region_account}:parameter/{params['Name'].lstrip('/')}"]
    if service == "events" and operation == "PutEvents":
        buses = [entry.get("EventBusName") or "default" for entry in params["Entries"]]
        return [bus if bus.startswith("arn:") else f"arn:aws:events:{region_account}:event-bus/{bus}" for bus in buses]
    return ["*"]


def conditions_hold(statement: dict[str, Any], params: dict[str, Any]) -> bool:
    """The condition keys this template uses, evaluated against the request (all others fail closed)."""
    for operator, keys in statement.get("Condition", {}).items():
        for key, expected in keys.items():
            if (operator, key) == ("StringEquals", "cloudwatch:namespace"):
                if params.get("Namespace") != expected:
                    return False
            elif (operator, key) == ("ArnEquals", "ecs:cluster"):
                cluster = str(params.get("cluster", ""))
                arn = cluster if cluster.startswith("arn:") else f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{cluster}"
                if arn != expected:
                    return False
            else:
                return False
    return True


def permits(statement: dict[str, Any], action: str, arn: str, params: dict[str, Any]) -> bool:
    """Whether `statement` allows `action` on `arn` (its wildcards matched) for a request with `params`."""
    if statement["Effect"] != "Allow" or action not in statement["Action"]:
        return False
    resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
    return any(fnmatch.fnmatchcase(arn, pattern) for pattern in resources) and conditions_hold(statement, params)
