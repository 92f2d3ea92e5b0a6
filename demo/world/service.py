"""The guarded ECS service as the incident found it: cluster hokusai-development, service hokusai-api, family
hokusai-api-development, revisions 1..34 registered and :31 running steady."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from demo.world.local_aws import ACCOUNT

CLUSTER = "hokusai-development"
SERVICE = "hokusai-api"
FAMILY = "hokusai-api-development"
RUNNING = 31  # the revision the service runs when the world starts
LATEST = 34
EXECUTION_ROLE = "hokusai-api-execution"  # every revision names it; it exists, as in a real account
ECS_TASKS_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}

ImageFor = Callable[[int], str]


def build_image(revision: int) -> str:
    """Each revision names its own build (the mutable-tag scenario names one tag in every revision instead)."""
    return f"hokusai/api:build-{revision}"


def create_execution_role(iam: Any) -> str:
    """The role the revisions name (the rollback readiness check looks it up)."""
    role = iam.create_role(RoleName=EXECUTION_ROLE, AssumeRolePolicyDocument=json.dumps(ECS_TASKS_TRUST))
    return str(role["Role"]["Arn"])


def create_service(ecs: Any, image_for: ImageFor = build_image) -> dict[int, str]:
    """Register revisions 1..34 of the family and start the service on :31; returns revision -> task definition."""
    ecs.create_cluster(clusterName=CLUSTER)
    revisions: dict[int, str] = {}
    for revision in range(1, LATEST + 1):
        response = ecs.register_task_definition(
            family=FAMILY,
            containerDefinitions=[
                {
                    "name": "api",
                    "image": image_for(revision),
                    "memory": 512,
                    "essential": True,
                    "portMappings": [{"containerPort": 8001}],
                }
            ],
            executionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/{EXECUTION_ROLE}",
            requiresCompatibilities=["FARGATE"],
            networkMode="awsvpc",
            cpu="256",
            memory="512",
        )
        revisions[revision] = response["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster=CLUSTER, serviceName=SERVICE, taskDefinition=f"{FAMILY}:{RUNNING}", desiredCount=2)
    return revisions
