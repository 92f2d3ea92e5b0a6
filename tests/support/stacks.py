"""A stand-in for a deployed canary-rollback stack in moto's CloudFormation (moto cannot deploy template.yaml
itself: it has no CloudWatch alarms): the same outputs and parameters, naming the demo world's resources."""

from __future__ import annotations

import json

import boto3


def create_stand_in_stack(name: str, cluster: str, service: str, table: str, topic_arn: str) -> None:
    body = {
        "Parameters": {
            "ClusterName": {"Type": "String"},
            "ServiceName": {"Type": "String"},
            "PinImageDigests": {"Type": "String", "Default": "true"},
        },
        "Resources": {"Marker": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": f"{name}-marker"}}},
        "Outputs": {
            "ClusterName": {"Value": {"Ref": "ClusterName"}},
            "ServiceName": {"Value": {"Ref": "ServiceName"}},
            "StateTableName": {"Value": table},
            "NotifyTopicArn": {"Value": topic_arn},
        },
    }
    boto3.client("cloudformation").create_stack(
        StackName=name,
        TemplateBody=json.dumps(body),
        Parameters=[
            {"ParameterKey": "ClusterName", "ParameterValue": cluster},
            {"ParameterKey": "ServiceName", "ParameterValue": service},
        ],
    )
