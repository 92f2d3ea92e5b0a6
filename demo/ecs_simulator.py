"""A small ECS rollout simulator over moto's in-process ECS backend.

moto 5 keeps the old deployment list after UpdateService, stores `taskDefinition` exactly as passed and
never finishes a rollout. Real ECS (which the product's code is written for) instead:
  * answers DescribeServices right after UpdateService with the new task definition ARN and a new PRIMARY
    deployment IN_PROGRESS (running 0), the old one demoted to ACTIVE;
  * later completes it (COMPLETED, running == desired, old deployment drained), or
  * with the deployment circuit breaker, fails it and rolls back to the previous task definition.
This wraps the backend's update_service to do the first, and `advance()` does the second or third.
Like real ECS it also announces each deployment as an EventBridge "ECS Deployment State Change"
(SERVICE_DEPLOYMENT_IN_PROGRESS / _COMPLETED / _FAILED); the world drains them with `take_events()`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from moto.core.utils import utcnow
from moto.ecs.models import ecs_backends

ACCOUNT = "123456789012"


@dataclass(frozen=True)
class DeploymentStateChange:
    """What ECS puts in an "ECS Deployment State Change" event's resources and detail."""

    service_arn: str
    event_name: str
    deployment_id: str
    task_definition_arn: str


class EcsRolloutSimulator:
    def __init__(self, region: str = "us-east-1", account: str = ACCOUNT) -> None:
        self.backend = ecs_backends[account][region]
        self._broken_revisions: set[str] = set()  # task definition ARNs whose tasks never start
        self._lock = threading.Lock()
        self.update_calls: list[tuple[str, str]] = []  # (service, task definition as passed)
        self._events: list[DeploymentStateChange] = []
        self._original_update = self.backend.update_service
        self._throttle: Callable[[], bool] | None = None
        self.backend.update_service = self._update_service  # type: ignore[method-assign]

    def close(self) -> None:
        self.backend.update_service = self._original_update  # type: ignore[method-assign]

    # ---- test controls -------------------------------------------------------------------------
    def mark_unstartable(self, task_definition_arn: str) -> None:
        """Tasks of this revision crash on start (the incident's import error / exec format error)."""
        self._broken_revisions.add(task_definition_arn)

    def take_events(self) -> list[DeploymentStateChange]:
        """The deployment state changes since the last call, oldest first (UpdateService runs in moto's thread)."""
        with self._lock:
            events, self._events = self._events, []
        return events

    def _announce(self, service: Any, name: str, deployment: dict[str, Any]) -> None:
        self._events.append(
            DeploymentStateChange(str(service.arn), name, str(deployment["id"]), str(deployment["taskDefinition"]))
        )

    def throttle_updates(self, decide: Callable[[], bool] | None) -> None:
        """`decide()` returning True makes the next UpdateService answer ThrottlingException."""
        self._throttle = decide

    # ---- real-ECS behaviour --------------------------------------------------------------------
    def _update_service(self, service_properties: dict[str, Any]) -> Any:
        if self._throttle is not None and self._throttle():
            from moto.core.exceptions import JsonRESTError

            raise JsonRESTError("ThrottlingException", "Rate exceeded")
        passed = service_properties.get("task_definition")
        service = self._original_update(service_properties)
        with self._lock:
            self.update_calls.append((service.name, str(passed)))
            if passed:
                self._start_deployment(service, self._arn(passed))
        return service

    def _arn(self, task_definition: str) -> str:
        return str(self.backend.describe_task_definition(task_definition).arn)

    def _start_deployment(self, service: Any, arn: str) -> None:
        service.task_definition = arn
        now = utcnow()
        old = [dict(d, status="ACTIVE") for d in service.deployments if d["status"] == "PRIMARY"]
        primary = dict(service.deployments[0]) if service.deployments else {}
        primary.update(
            id=f"ecs-svc/{abs(hash((arn, now))) % 10**12}",
            status="PRIMARY",
            taskDefinition=arn,
            rolloutState="IN_PROGRESS",
            rolloutStateReason="ECS deployment in progress.",
            runningCount=0,
            pendingCount=service.desired_count,
            desiredCount=service.desired_count,
            createdAt=now,
            updatedAt=now,
        )
        service.deployments = [primary, *old]
        self._announce(service, "SERVICE_DEPLOYMENT_IN_PROGRESS", primary)

    def deploy(self, cluster: str, service_name: str, task_definition: str) -> None:
        """What a CI pipeline does: UpdateService (through the wrapped backend, like any API caller)."""
        self.backend.update_service({"cluster": cluster, "service": service_name, "task_definition": task_definition})

    def advance(self, cluster: str, service_name: str) -> str:
        """One step of the rollout; returns what happened: completed | failed | steady."""
        with self._lock:
            service = self.backend._get_service(cluster, service_name)
            primary = service.deployments[0]
            if primary["rolloutState"] != "IN_PROGRESS":
                return "steady"
            if primary["taskDefinition"] in self._broken_revisions:
                previous = next((d for d in service.deployments[1:] if d["status"] == "ACTIVE"), None)
                self._announce(service, "SERVICE_DEPLOYMENT_FAILED", primary)
                if previous is None:
                    primary.update(rolloutState="FAILED", rolloutStateReason="tasks failed to start")
                    return "failed"
                # Circuit breaker with rollback: back to the previous revision, the failed deployment gone.
                service.task_definition = str(previous["taskDefinition"])
                service.deployments = [dict(previous, status="PRIMARY", rolloutState="COMPLETED", updatedAt=utcnow())]
                service.running_count = service.desired_count
                return "failed"
            primary.update(
                rolloutState="COMPLETED",
                rolloutStateReason="ECS deployment completed.",
                runningCount=service.desired_count,
                pendingCount=0,
                updatedAt=utcnow(),
            )
            service.deployments = [primary]
            service.running_count = service.desired_count
            service.pending_count = 0
            self._announce(service, "SERVICE_DEPLOYMENT_COMPLETED", primary)
            return "completed"

    def settle(self, cluster: str, service_name: str) -> None:
        """A service just created by moto is stuck IN_PROGRESS with nothing running; make it steady."""
        with self._lock:
            service = self.backend._get_service(cluster, service_name)
            service.task_definition = self._arn(str(service.task_definition))
            for deployment in service.deployments:
                deployment["taskDefinition"] = service.task_definition
            primary = service.deployments[0]
            primary.update(rolloutState="COMPLETED", runningCount=service.desired_count, pendingCount=0)
            service.deployments = [primary]
            service.running_count = service.desired_count
            service.pending_count = 0

    def serving_revision(self, cluster: str, service_name: str) -> str:
        """The task definition whose tasks answer traffic: the PRIMARY once it completed, else the old one."""
        service = self.backend._get_service(cluster, service_name)
        completed = [d for d in service.deployments if d.get("rolloutState") == "COMPLETED"]
        if completed:
            return str(completed[0]["taskDefinition"])
        return str(service.deployments[-1]["taskDefinition"])
