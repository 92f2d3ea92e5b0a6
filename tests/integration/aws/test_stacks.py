"""`--stack NAME`: the stack's outputs and parameters name the service, the table and the topic (moto)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from canary_rollback.aws.stacks import read_stack
from canary_rollback.core.errors import ConfigError
from tests.support.stacks import create_stand_in_stack

TOPIC = "arn:aws:sns:us-east-1:123456789012:canary-rollback-NotifyTopic"


def test_outputs_and_parameters_name_everything_a_command_needs(aws: Any) -> None:
    create_stand_in_stack("hokusai-canary", "hokusai-development", "hokusai-api", "hokusai-canary-StateTable", TOPIC)
    stack = read_stack(boto3.client("cloudformation"), "hokusai-canary")
    assert (stack.cluster, stack.service, stack.table, stack.topic) == (
        "hokusai-development",
        "hokusai-api",
        "hokusai-canary-StateTable",
        TOPIC,
    )
    assert stack.pin_image_digests == "true"


def test_a_missing_stack_is_a_clear_configuration_error(aws: Any) -> None:
    with pytest.raises(ConfigError, match="--stack nowhere: no such CloudFormation stack"):
        read_stack(boto3.client("cloudformation"), "nowhere")


def test_a_stack_that_is_not_ours_says_what_it_lacks(aws: Any) -> None:
    body = '{"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "q"}}}}'
    boto3.client("cloudformation").create_stack(StackName="someone-elses", TemplateBody=body)
    with pytest.raises(ConfigError, match="has no ClusterName, ServiceName, StateTableName"):
        read_stack(boto3.client("cloudformation"), "someone-elses")
