"""What ECS made of a rollback: a rollback is done when ECS finishes it, not when ECS accepts it.

After UpdateService the rollback's own deployment is followed by whoever sees the service first (scheduled runs,
watch rounds, deployment events, the rollback function's decisions and ticks). Pure: the caller describes the
service and writes the record (docs/design.md, "The rollback lock").
"""

from __future__ import annotations

from canary_rollback.core.models import ServiceObservation
from canary_rollback.core.rollback_record import RollbackRecord


def _label(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def reverted_by_ecs(lock: RollbackRecord | None, service: ServiceObservation) -> str | None:
    """What ECS did to undo this stack's rollback, in words; None while it has not (or once a verdict is in).

    Reverted: the rollback's deployment rolled out `FAILED` (the circuit breaker gave up on the known-good's
    tasks, or a lifecycle hook failed it), or the service is back on the revision the rollback moved it from.
    """
    if lock is None or lock.status != "done" or lock.outcome is not None:
        return None
    own = (
        next((d for d in service.deployments if d.deployment_id == lock.deployment_id), None)
        if lock.deployment_id
        else None
    )
    back = service.task_definition_arn == lock.from_arn and lock.from_arn != lock.to_arn
    if lock.via == "stop_deployment" and service.deploying:
        back = False  # after a stop the service stays on `from` while ECS shifts back: not done yet, not reverted
    if own is not None and own.rollout_state == "FAILED":
        why = f" ({own.rollout_state_reason})" if own.rollout_state_reason else ""
        then = f"; the service is back on {_label(lock.from_arn)}" if back else ""
        return f"ECS marked the rollback's deployment {own.deployment_id} FAILED{why}{then}"
    if back:
        return (
            f"the service is back on {_label(lock.from_arn)}, the revision the rollback moved it from "
            f"(ECS did not keep {_label(lock.to_arn)} running: its deployment failed or was rolled back)"
        )
    return None
