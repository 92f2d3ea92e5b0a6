"""Create the stack's stateful resources in the local AWS as template.yaml declares them.

Only what can exist without Lambda: the StateTable, the notification topic (with an SQS queue subscribed,
so notifications can be read back), the alarms, and the functions' environment as the template sets it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3

from demo.world.local_aws import ACCOUNT, REGION
from demo.world.template import Resolver, load_template, parameter_defaults


@dataclass
class LocalStack:
    stack_name: str
    table_name: str
    topic_arn: str
    queue_url: str
    alarm_names: dict[str, str]  # logical id -> alarm name
    function_env: dict[str, str]  # Globals: what every function's environment holds
    own_env: dict[str, dict[str, str]]  # function logical id -> the variables it sets itself

    def environment(self, function: str) -> dict[str, str]:
        """One function's environment, as Lambda merges it: the Globals, then the function's own variables."""
        return {**self.function_env, **self.own_env.get(function, {})}

    def notifications(self) -> list[dict[str, str]]:
        """Every SNS message published so far (drains the subscribed queue)."""
        sqs = boto3.client("sqs")
        seen: list[dict[str, str]] = []
        while True:
            batch = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return seen
            for message in batch:
                envelope = json.loads(message["Body"])
                seen.append({"subject": envelope.get("Subject", ""), "message": envelope.get("Message", "")})
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


def create_local_stack(
    stack_name: str = "canary-rollback",
    parameters: dict[str, str] | None = None,
    template: dict[str, Any] | None = None,
) -> LocalStack:
    template = template or load_template()
    resources = template["Resources"]
    params = {**parameter_defaults(template), **(parameters or {})}
    table_name = f"{stack_name}-StateTable"
    refs: dict[str, str] = {
        **params,
        "AWS::StackName": stack_name,
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT,
        "AWS::Partition": "aws",
        "StateTable": table_name,
        "ProbeFunction": f"{stack_name}-ProbeFunction",
        "RollbackFunction": f"{stack_name}-RollbackFunction",
        "DeploymentHookFunction": f"{stack_name}-DeploymentHookFunction",
    }

    table = resources["StateTable"]["Properties"]
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(
        TableName=table_name,
        AttributeDefinitions=table["AttributeDefinitions"],
        KeySchema=table["KeySchema"],
        BillingMode=table["BillingMode"],
    )
    ttl = table["TimeToLiveSpecification"]
    dynamodb.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": bool(ttl["Enabled"])},
    )

    sns = boto3.client("sns")
    topic_arn = sns.create_topic(Name=f"{stack_name}-NotifyTopic")["TopicArn"]
    refs["NotifyTopic"] = topic_arn
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName=f"{stack_name}-notifications")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)

    failures = sqs.create_queue(QueueName=f"{stack_name}-RollbackFailureQueue")["QueueUrl"]
    refs["RollbackFailureQueue"] = failures
    refs["RollbackFailureQueue.QueueName"] = f"{stack_name}-RollbackFailureQueue"

    resolver = Resolver(template, refs)
    cloudwatch = boto3.client("cloudwatch")
    alarm_names: dict[str, str] = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        props: dict[str, Any] = resolver.resolve(resource["Properties"])
        name = f"{stack_name}-{logical_id}"
        cloudwatch.put_metric_alarm(AlarmName=name, **_alarm_arguments(props))
        alarm_names[logical_id] = name

    env = resolver.resolve(template["Globals"]["Function"]["Environment"]["Variables"])
    resolver.refs.update(alarm_names)  # a function's own variables may name the alarms (RollbackFunction's do)
    function_env = {key: str(value) for key, value in env.items()}
    own_env: dict[str, dict[str, str]] = {}
    for logical_id, resource in resources.items():
        variables = resource.get("Properties", {}).get("Environment", {}).get("Variables")
        if resource["Type"] == "AWS::Serverless::Function" and variables:
            own_env[logical_id] = {key: str(value) for key, value in resolver.resolve(variables).items()}
    return LocalStack(stack_name, table_name, topic_arn, queue_url, alarm_names, function_env, own_env)


def _alarm_arguments(props: dict[str, Any]) -> dict[str, Any]:
    numeric = {"Period", "EvaluationPeriods", "DatapointsToAlarm"}
    args: dict[str, Any] = {}
    for key, value in props.items():
        if key in numeric:
            args[key] = int(value)
        elif key == "Threshold":
            args[key] = float(value)
        else:
            args[key] = value
    return args
