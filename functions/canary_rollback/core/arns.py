"""ECS ARNs read one way: what a task definition ARN is called for a person, and whether a service ARN names
the guarded service. Every pipeline, the CLI and the notifications use these, so a label or a "not ours" answer
never depends on which module wrote it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # read only; models imports evidence, which uses these labels
    from canary_rollback.core.models import GuardedService


def revision_label(arn: str | None) -> str:
    """`...:task-definition/hokusai-api-development:31` -> `hokusai-api-development:31` (None -> `none`)."""
    if arn is None:
        return "none"
    return arn.rsplit("/", 1)[-1]


def revision_family(arn: str) -> str:
    """`...:task-definition/hokusai-api-development:31` or `hokusai-api-development:31` -> `hokusai-api-development`."""
    return revision_label(arn).split(":", 1)[0]


def service_key(service_arn: str) -> str:
    """`arn:aws:ecs:REGION:ACCOUNT:service/CLUSTER/NAME` -> `CLUSTER/NAME` (the old short ARN format: `NAME`)."""
    resource = service_arn.split(":", 5)[-1]
    return resource.removeprefix("service/")


def is_guarded_service(service_arn: str, guarded: GuardedService) -> bool:
    """Whether an ECS service ARN names the guarded service. The long ARN format names the cluster
    (`service/CLUSTER/NAME`), the old short one only the service; anything that is not an ECS service ARN is
    never ours (an event that cannot say which service it is about is not acted on)."""
    parts = service_arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "ecs":
        return False
    return parts[5] in (f"service/{guarded.key}", f"service/{guarded.service}")
