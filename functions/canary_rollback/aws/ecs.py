"""ECS adapter: describe the guarded service, inspect and copy task definitions, update the service.

UpdateService to the task definition a service already runs starts no new deployment, so a resumed rollback
(docs/design.md, "The rollback lock") may repeat it safely.

Written to the ECS API reference, not to moto: task definitions are normalised to full ARNs because
DescribeServices may echo a `family:revision` as it was passed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from canary_rollback.aws.clients import error_code
from canary_rollback.core.errors import EcsError
from canary_rollback.core.models import Deployment, GuardedService, ServiceObservation, TaskDefinitionSnapshot

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient

# The RegisterTaskDefinition inputs that DescribeTaskDefinition returns; the rest (ARN, revision, status,
# requiresAttributes, compatibilities, registeredAt...) are outputs and would be rejected.
_REGISTER_FIELDS = (
    "family",
    "taskRoleArn",
    "executionRoleArn",
    "networkMode",
    "containerDefinitions",
    "volumes",
    "placementConstraints",
    "requiresCompatibilities",
    "cpu",
    "memory",
    "pidMode",
    "ipcMode",
    "proxyConfiguration",
    "inferenceAccelerators",
    "ephemeralStorage",
    "runtimePlatform",
    "enableFaultInjection",
)


# What ECS answers for a revision it will not describe (INACTIVE and unreferenced, or deleted).
_NOT_DESCRIBABLE = frozenset({"ClientException", "InvalidParameterException"})


def task_definition_arn(value: str, service_arn: str) -> str:
    """Normalise `family:rev` (or an ARN) to a full task definition ARN in the service's account/region."""
    if value.startswith("arn:"):
        return value
    # arn:aws:ecs:REGION:ACCOUNT:service/CLUSTER/NAME
    parts = service_arn.split(":")
    if len(parts) < 6:
        raise EcsError(f"cannot normalise task definition {value!r}: unexpected service ARN {service_arn!r}")
    partition, region, account = parts[1], parts[3], parts[4]
    return f"arn:{partition}:ecs:{region}:{account}:task-definition/{value}"


class EcsGateway:
    def __init__(self, client: ECSClient) -> None:
        self._client = client

    def describe(self, guarded: GuardedService) -> ServiceObservation:
        try:
            response = self._client.describe_services(cluster=guarded.cluster, services=[guarded.service])
        except (ClientError, BotoCoreError) as exc:
            raise EcsError(f"DescribeServices {guarded.key} failed: {error_code(exc)}: {exc}") from exc
        services = [s for s in response.get("services", []) if s.get("status") != "INACTIVE"]
        if not services:
            reasons = ", ".join(f.get("reason", "?") for f in response.get("failures", [])) or "not returned"
            raise EcsError(f"ECS service {guarded.key} not found ({reasons})")
        return observation_from_service(services[0])

    def resolve_task_definition(self, reference: str) -> tuple[str, bool]:
        """`family:revision` or an ARN -> (the ARN ECS knows, whether it is ACTIVE); unknown is an EcsError."""
        definition = self._describe_task_definition(reference)
        return str(definition["taskDefinitionArn"]), definition["status"] == "ACTIVE"

    # ---- restore what was seen healthy (docs/design.md, "What a rollback restores") ------------------------------

    def is_deployable(self, arn: str) -> bool:
        """ACTIVE, as far as ECS will say. Real ECS describes an INACTIVE revision only while something references
        it and a deleted one never: that refusal (ClientException) means "not ACTIVE", never an error. Anything
        else (throttled past retries, unreachable) is an EcsError, so Lambda retries instead of copying for nothing.
        """
        try:
            response = self._client.describe_task_definition(taskDefinition=arn)
        except ClientError as exc:
            if error_code(exc) in _NOT_DESCRIBABLE:
                return False
            raise EcsError(f"DescribeTaskDefinition {arn} failed: {error_code(exc)}: {exc}") from exc
        except BotoCoreError as exc:
            raise EcsError(f"DescribeTaskDefinition {arn} failed: {exc}") from exc
        return bool(response["taskDefinition"].get("status") == "ACTIVE")

    def registrable_snapshot(self, arn: str) -> TaskDefinitionSnapshot:
        """Everything RegisterTaskDefinition needs to register this revision again, its tags included."""
        source = self._describe_task_definition(arn, with_tags=True)
        definition = {key: source[key] for key in _REGISTER_FIELDS if source.get(key) not in (None, [])}
        tags = tuple(
            (str(t["key"]), str(t.get("value", "")))
            for t in source.get("tags", [])
            if not str(t.get("key", "")).startswith("aws:")  # reserved: RegisterTaskDefinition rejects them
        )
        return TaskDefinitionSnapshot(definition, tags)

    def running_digests(self, guarded: GuardedService, arn: str) -> dict[str, set[str]]:
        """container name -> every image digest the service's RUNNING tasks of `arn` report (ListTasks is
        paginated, DescribeTasks takes 100 tasks at a time). Tasks that report no digest add nothing."""
        try:
            task_arns: list[str] = []
            pages = self._client.get_paginator("list_tasks").paginate(
                cluster=guarded.cluster, serviceName=guarded.service, desiredStatus="RUNNING"
            )
            for page in pages:
                task_arns += page.get("taskArns", [])
            digests: dict[str, set[str]] = {}
            for start in range(0, len(task_arns), 100):
                batch = task_arns[start : start + 100]
                response = self._client.describe_tasks(cluster=guarded.cluster, tasks=batch)
                for task in response.get("tasks", []):
                    if task.get("lastStatus") != "RUNNING":
                        continue
                    if task_definition_arn(str(task.get("taskDefinitionArn", "")), arn) != arn:
                        continue
                    for container in task.get("containers", []):
                        if container.get("imageDigest"):
                            digests.setdefault(str(container.get("name")), set()).add(str(container["imageDigest"]))
        except (ClientError, BotoCoreError) as exc:
            raise EcsError(f"ListTasks/DescribeTasks {guarded.key} failed: {error_code(exc)}: {exc}") from exc
        return digests

    def register_task_definition(self, request: dict[str, Any], tags: tuple[tuple[str, str], ...]) -> str:
        try:
            response = self._client.register_task_definition(
                **request, tags=[{"key": key, "value": value} for key, value in tags]
            )
        except (ClientError, BotoCoreError) as exc:
            family = request.get("family")
            raise EcsError(f"RegisterTaskDefinition ({family}) failed: {error_code(exc)}: {exc}") from exc
        return str(response["taskDefinition"]["taskDefinitionArn"])

    def update_service(self, guarded: GuardedService, task_definition: str) -> str | None:
        """Returns the id of the PRIMARY deployment ECS answered with: the rollback's own deployment, which is
        followed until ECS finishes it (docs/design.md, "The rollback lock"). None when ECS did not say."""
        try:
            response = self._client.update_service(
                cluster=guarded.cluster, service=guarded.service, taskDefinition=task_definition
            )
        except (ClientError, BotoCoreError) as exc:
            raise EcsError(
                f"UpdateService {guarded.key} -> {task_definition} failed: {error_code(exc)}: {exc}"
            ) from exc
        deployments = response.get("service", {}).get("deployments", [])
        primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
        return str(primary["id"]) if primary is not None and primary.get("id") else None

    # ---- service deployments (ECS's own view of a BLUE_GREEN, LINEAR or CANARY deployment) ------------------

    def ongoing_service_deployment(self, guarded: GuardedService) -> str | None:
        """The ARN of the service deployment ECS is running now (PENDING or IN_PROGRESS), newest first; None."""
        try:
            response = self._client.list_service_deployments(
                cluster=guarded.cluster, service=guarded.service, status=["IN_PROGRESS", "PENDING"]
            )
        except (ClientError, BotoCoreError) as exc:
            raise EcsError(f"ListServiceDeployments {guarded.key} failed: {error_code(exc)}: {exc}") from exc
        ongoing = sorted(
            response.get("serviceDeployments", []), key=lambda d: str(d.get("createdAt") or ""), reverse=True
        )
        return str(ongoing[0]["serviceDeploymentArn"]) if ongoing else None

    def stop_service_deployment(self, deployment_arn: str) -> None:
        """StopServiceDeployment with stopType ROLLBACK: ECS shifts traffic back to the previous service revision
        (which a BLUE_GREEN deployment keeps running until its bake time ends)."""
        try:
            self._client.stop_service_deployment(serviceDeploymentArn=deployment_arn, stopType="ROLLBACK")
        except (ClientError, BotoCoreError) as exc:
            raise EcsError(f"StopServiceDeployment {deployment_arn} failed: {error_code(exc)}: {exc}") from exc

    def _describe_task_definition(self, arn: str, with_tags: bool = False) -> Any:
        try:
            if with_tags:
                response = self._client.describe_task_definition(taskDefinition=arn, include=["TAGS"])
            else:
                response = self._client.describe_task_definition(taskDefinition=arn)
        except (ClientError, BotoCoreError) as exc:
            raise EcsError(f"DescribeTaskDefinition {arn} failed: {error_code(exc)}: {exc}") from exc
        definition: dict[str, Any] = dict(response["taskDefinition"])
        definition["tags"] = response.get("tags", [])
        return definition


def observation_from_service(service: Any) -> ServiceObservation:
    service_arn: str = service["serviceArn"]
    deployments = tuple(
        Deployment(
            status=d.get("status", ""),
            task_definition_arn=task_definition_arn(d["taskDefinition"], service_arn),
            rollout_state=d.get("rolloutState"),
            running_count=int(d.get("runningCount", 0)),
            desired_count=int(d.get("desiredCount", 0)),
            pending_count=int(d.get("pendingCount", 0)),
            deployment_id=str(d["id"]) if d.get("id") else None,
            created_at=_aware(d.get("createdAt")),
            rollout_state_reason=d.get("rolloutStateReason"),
        )
        for d in service.get("deployments", [])
    )
    return ServiceObservation(
        service_arn=service_arn,
        task_definition_arn=task_definition_arn(service["taskDefinition"], service_arn),
        desired_count=int(service.get("desiredCount", 0)),
        running_count=int(service.get("runningCount", 0)),
        deployments=deployments,
        deployment_strategy=deployment_strategy(service),
        deployment_alarms=deployment_alarms(service),
    )


def deployment_alarms(service: Any) -> tuple[str, ...]:
    """The alarms ECS rolls a deployment back on: `deploymentConfiguration.alarms` with enable and rollback."""
    alarms = (service.get("deploymentConfiguration") or {}).get("alarms") or {}
    if not (alarms.get("enable") and alarms.get("rollback")):
        return ()
    return tuple(str(name) for name in alarms.get("alarmNames", []))


def _aware(value: Any) -> datetime | None:
    """botocore parses timestamps to aware datetimes; anything else (absent, unparsed) is unknown."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return None


def deployment_strategy(service: Any) -> str:
    """ECS's `deploymentConfiguration.strategy` (ROLLING when absent); a non-ECS deployment controller wins."""
    controller = str((service.get("deploymentController") or {}).get("type") or "ECS")
    if controller != "ECS":
        return controller
    return str((service.get("deploymentConfiguration") or {}).get("strategy") or "ROLLING")
