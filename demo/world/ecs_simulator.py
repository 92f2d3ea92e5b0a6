"""A small ECS rollout simulator over moto's in-process ECS backend.

moto 5 keeps the old deployment list after UpdateService, stores `taskDefinition` exactly as passed and
never finishes a rollout. Real ECS (which the product's code is written for) instead:
  * answers DescribeServices right after UpdateService with the new task definition ARN and a new PRIMARY
    deployment IN_PROGRESS (running 0), the old one demoted to ACTIVE;
  * later completes it (COMPLETED, running == desired, old deployment drained), or
  * with the deployment circuit breaker, fails it and rolls back to the previous task definition.
This wraps the backend's update_service to do the first, and `advance()` does the second or third.

Opt-in, for what moto does not model at all (README "How decisions are made" relies on both):
  * `with_tasks(registry)`: the service runs tasks (ListTasks serviceName=..., DescribeTasks) whose containers
    report the image digest ECS resolved from the registry when their deployment started; moving a tag later
    changes only deployments started later, as in real ECS;
  * `strict_task_definitions()`: DescribeTaskDefinition of an INACTIVE revision fails unless a service or a
    running task references it (the AWS API reference's rule); deleted revisions cannot be described at all.

Like real ECS it also announces each deployment as an EventBridge "ECS Deployment State Change"
(SERVICE_DEPLOYMENT_IN_PROGRESS / _COMPLETED / _FAILED); the world drains them with `take_events()`.

Service deployments (moto raises NotImplementedError for all of them), opt-in with `with_service_deployments()`:
ListServiceDeployments and StopServiceDeployment as the ECS API reference documents them, derived from the
service's deployments (an IN_PROGRESS PRIMARY is an IN_PROGRESS service deployment); a stop with `stopType`
ROLLBACK puts the service back on the revision it deployed from, as ECS does for a BLUE_GREEN deployment whose
blue tasks still run. `gate(strategy, alarms)` sets `deploymentConfiguration` (a strategy, deployment alarms);
`scale_in(...)` loses a task without a deployment (running < desired on one COMPLETED deployment).
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from moto.core.utils import utcnow
from moto.ecs.models import ecs_backends

from demo.world.local_aws import ACCOUNT


def fake_digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


class ImageRegistry:
    """A container registry's tag -> digest table; a test moves a tag with `push`."""

    def __init__(self, tags: dict[str, str] | None = None) -> None:
        self.tags: dict[str, str] = dict(tags or {})

    def push(self, image: str, digest: str) -> None:
        self.tags[_with_tag(image)] = digest

    def resolve(self, image: str) -> str | None:
        """What a pull of `image` gets now: the digest it names, else what its tag points at (None: unknown)."""
        if "@" in image:
            return image.split("@", 1)[1]
        return self.tags.get(_with_tag(image))


def _with_tag(image: str) -> str:
    return image if ":" in image.rsplit("/", 1)[-1] else f"{image}:latest"


@dataclass
class SimTask:
    """A running task as DescribeTasks shows it (the fields the product reads, and a few more)."""

    task_arn: str
    cluster_arn: str
    task_definition_arn: str
    group: str
    containers: list[dict[str, Any]] = field(default_factory=list)
    last_status: str = "RUNNING"
    desired_status: str = "RUNNING"
    launch_type: str = "FARGATE"
    tags: list[dict[str, str]] = field(default_factory=list)


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
        self.registry: ImageRegistry | None = None
        self.tasks: dict[str, list[SimTask]] = {}  # "cluster/service" -> running tasks
        self._resolved: dict[str, dict[str, str | None]] = {}  # deployment id -> container -> digest at its start
        self._originals: dict[str, Any] = {}
        self._response_list_tasks: Any = None
        # When deployments start (`createdAt`): the world's simulated clock once it sets one, else moto's.
        self.clock: Callable[[], datetime] | None = None
        self._response_service_deployments: dict[str, Any] = {}
        self.stopped_deployments: list[str] = []  # StopServiceDeployment calls, by service deployment ARN

    def now(self) -> datetime:
        return self.clock() if self.clock is not None else utcnow()

    def close(self) -> None:
        self._restore_service_deployment_responses()
        self.backend.update_service = self._original_update  # type: ignore[method-assign]
        for name, original in self._originals.items():
            setattr(self.backend, name, original)
        if self._response_list_tasks is not None:
            from moto.ecs.responses import EC2ContainerServiceResponse

            EC2ContainerServiceResponse.list_tasks = self._response_list_tasks  # type: ignore[method-assign]
            self._response_list_tasks = None

    def _paginate_list_tasks(self) -> None:
        """Real ListTasks returns at most `maxResults` (default and maximum 100) ARNs and a `nextToken`."""
        from moto.core.responses import ActionResult
        from moto.ecs.responses import EC2ContainerServiceResponse

        if self._response_list_tasks is not None:
            return
        original = self._response_list_tasks = EC2ContainerServiceResponse.list_tasks

        def list_tasks(response: Any) -> Any:
            service_name = response._get_param("serviceName")
            if not service_name:
                return original(response)
            cluster = response._get_param("cluster", "default")
            arns = [t.task_arn for t in self._list_tasks(cluster, service_name=service_name)]
            size = min(int(response._get_param("maxResults") or 100), 100)
            start = int(response._get_param("nextToken") or 0)
            result: dict[str, Any] = {"taskArns": arns[start : start + size]}
            if start + size < len(arns):
                result["nextToken"] = str(start + size)
            return ActionResult(result)

        EC2ContainerServiceResponse.list_tasks = list_tasks  # type: ignore[method-assign,assignment]

    # ---- opt-in: tasks with image digests, the INACTIVE describe rule ---------------------------------
    def with_tasks(self, registry: ImageRegistry) -> EcsRolloutSimulator:
        self.registry = registry
        self._wrap("list_tasks", self._list_tasks)
        self._wrap("describe_tasks", self._describe_tasks)
        self._paginate_list_tasks()
        with self._lock:
            for service in self.backend.services.values():
                if service.deployments and service.deployments[0].get("rolloutState") == "COMPLETED":
                    self._run_tasks(service, service.deployments[0])  # a service already steady runs its tasks
        return self

    def strict_task_definitions(self) -> EcsRolloutSimulator:
        self._wrap("describe_task_definition", self._describe_task_definition)
        return self

    def _wrap(self, name: str, replacement: Callable[..., Any]) -> None:
        if name not in self._originals:
            self._originals[name] = getattr(self.backend, name)
            setattr(self.backend, name, replacement)

    def service_tasks(self, cluster: str, service_name: str) -> list[SimTask]:
        return self.tasks.setdefault(f"{cluster}/{service_name}", [])

    def serving_digests(self, cluster: str, service_name: str) -> set[str]:
        return {str(c["imageDigest"]) for t in self.service_tasks(cluster, service_name) for c in t.containers
                if c.get("imageDigest")}  # fmt: skip

    def _list_tasks(self, cluster_str: str | None = None, *args: Any, **kwargs: Any) -> list[Any]:
        service_name = kwargs.get("service_name", args[3] if len(args) > 3 else None)
        if not service_name:
            return list(self._originals["list_tasks"](cluster_str, *args, **kwargs))
        cluster = (cluster_str or "default").rsplit("/", 1)[-1]
        return list(self.service_tasks(cluster, service_name.rsplit("/", 1)[-1]))

    def _describe_tasks(self, cluster_str: str, tasks: list[str]) -> list[Any]:
        if len(tasks) > 100:  # the API reference: "A list of up to 100 task IDs or full ARN entries"
            from moto.ecs.exceptions import InvalidParameterException

            raise InvalidParameterException("Tasks cannot be more than 100.")
        wanted = set(tasks)
        found: list[Any] = [t for ts in self.tasks.values() for t in ts if t.task_arn in wanted]
        rest = [arn for arn in tasks if arn not in {t.task_arn for t in found}]
        return found + (list(self._originals["describe_tasks"](cluster_str, rest)) if rest else [])

    def _describe_task_definition(self, task_definition_str: str) -> Any:
        definition = self._originals["describe_task_definition"](task_definition_str)
        if definition.status != "ACTIVE" and not self._referenced(str(definition.arn)):
            from moto.ecs.exceptions import TaskDefinitionNotFoundException

            raise TaskDefinitionNotFoundException()
        return definition

    def _referenced(self, arn: str) -> bool:
        for service in self.backend.services.values():
            if service.status != "ACTIVE":
                continue
            if any(self._arn_or_none(str(d.get("taskDefinition"))) == arn for d in service.deployments):
                return True
        return any(t.task_definition_arn == arn for ts in self.tasks.values() for t in ts)

    def _arn_or_none(self, reference: str) -> str | None:
        if reference.startswith("arn:"):
            return reference
        try:
            return str(self._original_describe(reference).arn)
        except Exception:  # an unknown revision references nothing
            return None

    def _original_describe(self, reference: str) -> Any:
        return self._originals.get("describe_task_definition", self.backend.describe_task_definition)(reference)

    def _resolve_images(self, deployment_id: str, arn: str) -> None:
        if self.registry is None:
            return
        definition = self._original_describe(arn)
        self._resolved[deployment_id] = {
            str(c["name"]): self.registry.resolve(str(c["image"])) for c in definition.container_definitions
        }

    def _run_tasks(self, service: Any, deployment: dict[str, Any]) -> None:
        """The deployment's tasks replace the service's: each container reports the digest resolved at its start."""
        if self.registry is None:
            return
        arn = str(deployment["taskDefinition"])
        if str(deployment["id"]) not in self._resolved:
            self._resolve_images(str(deployment["id"]), arn)
        resolved = self._resolved[str(deployment["id"])]
        definition = self._original_describe(arn)
        tasks = self.service_tasks(service.cluster_name, service.name)
        tasks.clear()
        for _ in range(service.desired_count):
            task_id = uuid.uuid4().hex
            containers = []
            for c in definition.container_definitions:
                container = {"name": c["name"], "image": c["image"], "lastStatus": "RUNNING",
                             "taskArn": "", "containerArn": f"{arn}/{task_id}/{c['name']}"}  # fmt: skip
                if resolved.get(str(c["name"])):
                    container["imageDigest"] = resolved[str(c["name"])]
                containers.append(container)
            prefix = f"arn:aws:ecs:{self.backend.region_name}:{self.backend.account_id}"
            task_arn = f"{prefix}:task/{service.cluster_name}/{task_id}"
            for container in containers:
                container["taskArn"] = task_arn
            cluster_arn = (
                f"arn:aws:ecs:{self.backend.region_name}:{self.backend.account_id}:cluster/{service.cluster_name}"
            )
            tasks.append(SimTask(task_arn, cluster_arn, arn, f"service:{service.name}", containers))

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
        return str(self._original_describe(task_definition).arn)

    def _start_deployment(self, service: Any, arn: str) -> None:
        service.task_definition = arn
        now = self.now()
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
        self._resolve_images(str(primary["id"]), arn)  # ECS resolves tags to digests when a deployment starts
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
            self._run_tasks(service, primary)
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
            if self.clock is not None:
                primary.update(createdAt=self.now(), updatedAt=self.now())
            service.deployments = [primary]
            service.running_count = service.desired_count
            service.pending_count = 0
            self._run_tasks(service, primary)

    def serving_revision(self, cluster: str, service_name: str) -> str:
        """The task definition whose tasks answer traffic: the PRIMARY once it completed, else the old one."""
        service = self.backend._get_service(cluster, service_name)
        completed = [d for d in service.deployments if d.get("rolloutState") == "COMPLETED"]
        if completed:
            return str(completed[0]["taskDefinition"])
        return str(service.deployments[-1]["taskDefinition"])

    def roll_back_deployment(self, cluster: str, service_name: str) -> str:
        """ECS abandoning a deployment (a blue/green hook answered FAILED): the previous revision is PRIMARY again.

        Returns the task definition ARN the service is back on.
        """
        with self._lock:
            service = self.backend._get_service(cluster, service_name)
            previous = next(d for d in service.deployments[1:] if d["status"] == "ACTIVE")
            service.task_definition = str(previous["taskDefinition"])
            service.deployments = [dict(previous, status="PRIMARY", rolloutState="COMPLETED", updatedAt=utcnow())]
            service.running_count = service.desired_count
            service.pending_count = 0
            return str(service.task_definition)

    # ---- opt-in: deployment strategies, service deployments, scaling (moto models none of them) ------------
    def gate(self, cluster: str, service_name: str, strategy: str = "BLUE_GREEN", alarms: tuple[str, ...] = ()) -> None:
        """`deploymentConfiguration` as DescribeServices shows it: the strategy, and the alarms ECS rolls back on
        (`alarms` empty: ECS watches none)."""
        with self._lock:
            service = self.backend._get_service(cluster, service_name)
            configuration: dict[str, Any] = {"strategy": strategy}
            if alarms:
                configuration["alarms"] = {"alarmNames": list(alarms), "enable": True, "rollback": True}
            service.deployment_configuration = configuration  # type: ignore[attr-defined]  # echoed by moto

    def scale_in(self, cluster: str, service_name: str, running: int) -> None:
        """A task stopped (scaled in, or replaced): running < desired on the one COMPLETED deployment, no new
        deployment. ECS starts a replacement under the same deployment."""
        with self._lock:
            service = self.backend._get_service(cluster, service_name)
            service.running_count = running
            service.deployments[0].update(runningCount=running, pendingCount=service.desired_count - running)

    def service_deployment_arn(self, service: Any, deployment: dict[str, Any]) -> str:
        """`arn:aws:ecs:REGION:ACCOUNT:service-deployment/CLUSTER/SERVICE/ID`, the deployment's id after `ecs-svc/`."""
        suffix = str(deployment["id"]).rsplit("/", 1)[-1]
        return (
            f"arn:aws:ecs:{self.backend.region_name}:{self.backend.account_id}:service-deployment/"
            f"{service.cluster_name}/{service.name}/{suffix}"
        )

    def with_service_deployments(self) -> EcsRolloutSimulator:
        """ListServiceDeployments and StopServiceDeployment, answered from the service's deployments."""
        from moto.core.exceptions import JsonRESTError
        from moto.core.responses import ActionResult
        from moto.ecs.responses import EC2ContainerServiceResponse

        if self._response_service_deployments:
            return self

        def list_service_deployments(response: Any) -> Any:
            cluster = str(response._get_param("cluster") or "default").rsplit("/", 1)[-1]
            service_name = str(response._get_param("service")).rsplit("/", 1)[-1]
            wanted = set(response._get_param("status") or [])
            with self._lock:
                service = self.backend._get_service(cluster, service_name)
                found = [self._brief(service, d) for d in service.deployments if d["status"] == "PRIMARY"]
            return ActionResult({"serviceDeployments": [d for d in found if not wanted or d["status"] in wanted]})

        def stop_service_deployment(response: Any) -> Any:
            arn = str(response._get_param("serviceDeploymentArn"))
            stop_type = response._get_param("stopType") or "ROLLBACK"
            with self._lock:
                for service in self.backend.services.values():
                    primary = service.deployments[0] if service.deployments else None
                    if primary is None or self.service_deployment_arn(service, primary) != arn:
                        continue
                    if primary.get("rolloutState") != "IN_PROGRESS":
                        raise JsonRESTError("ConflictException", f"service deployment {arn} is not ongoing")
                    self.stopped_deployments.append(arn)
                    if stop_type == "ROLLBACK":
                        self._back_to_previous(service)
                    return ActionResult({"serviceDeploymentArn": arn})
            raise JsonRESTError("ServiceDeploymentNotFoundException", f"service deployment {arn} not found")

        for name, method in (
            ("list_service_deployments", list_service_deployments),
            ("stop_service_deployment", stop_service_deployment),
        ):
            self._response_service_deployments[name] = getattr(EC2ContainerServiceResponse, name, None)
            setattr(EC2ContainerServiceResponse, name, method)
        return self

    def _restore_service_deployment_responses(self) -> None:
        from moto.ecs.responses import EC2ContainerServiceResponse

        for name, original in self._response_service_deployments.items():
            if original is None:
                delattr(EC2ContainerServiceResponse, name)
            else:
                setattr(EC2ContainerServiceResponse, name, original)
        self._response_service_deployments = {}

    def _brief(self, service: Any, deployment: dict[str, Any]) -> dict[str, Any]:
        """A ServiceDeploymentBrief (ECS API reference): IN_PROGRESS while the deployment rolls out."""
        rollout = deployment.get("rolloutState")
        status = {"IN_PROGRESS": "IN_PROGRESS", "COMPLETED": "SUCCESSFUL", "FAILED": "ROLLBACK_SUCCESSFUL"}
        return {
            "serviceDeploymentArn": self.service_deployment_arn(service, deployment),
            "serviceArn": str(service.arn),
            "clusterArn": str(service.cluster_arn),
            "createdAt": deployment.get("createdAt"),
            "startedAt": deployment.get("createdAt"),
            "status": status.get(str(rollout), "PENDING"),
        }

    def _back_to_previous(self, service: Any) -> None:
        """ECS rolling a stopped deployment back: the revision it deployed from is PRIMARY again, COMPLETED."""
        previous = next((d for d in service.deployments[1:] if d["status"] == "ACTIVE"), None)
        if previous is None:
            return
        service.task_definition = str(previous["taskDefinition"])
        service.deployments = [dict(previous, status="PRIMARY", rolloutState="COMPLETED", updatedAt=self.now())]
        service.running_count = service.desired_count
        service.pending_count = 0
        self._run_tasks(service, service.deployments[0])
