"""ECS ARNs read one way: the watch and the gate agree on which service is ours; one label for a revision."""

from __future__ import annotations

import pytest

from canary_rollback.core.arns import is_guarded_service, revision_family, revision_label, service_key
from canary_rollback.core.models import GuardedService
from canary_rollback.gate.stages import HookEvent, HookSettings, plan_hook

GUARDED = GuardedService("hokusai-development", "hokusai-api")
PREFIX = "arn:aws:ecs:us-east-1:123456789012"
REVISION = f"{PREFIX}:task-definition/hokusai-api-development:31"

SERVICES = [
    (f"{PREFIX}:service/hokusai-development/hokusai-api", True),
    (f"{PREFIX}:service/hokusai-api", True),  # the old short ARN format
    (f"{PREFIX}:service/hokusai-development/hokusai-web", False),
    (f"{PREFIX}:service/other-cluster/hokusai-api", False),
    ("arn:aws:sqs:us-east-1:123456789012:service/hokusai-development/hokusai-api", False),
    ("hokusai-api", False),  # not an ARN: it cannot say which service it is about
    ("hokusai-development/hokusai-api", False),
]


def _hook_event(service_arn: str) -> HookEvent:
    return HookEvent(
        execution_id="e-1",
        stage="PRE_SCALE_UP",
        resource_arn=f"{PREFIX}:service-deployment/hokusai-development/hokusai-api/d1",
        service_arn=service_arn,
        target_revision_arn=f"{PREFIX}:service-revision/hokusai-development/hokusai-api/1",
        test_weights={},
        production_weights={},
        hook_details={},
    )


@pytest.mark.parametrize(("arn", "ours"), SERVICES)
def test_the_gate_answers_is_this_our_service_as_the_watch_does(arn: str, ours: bool) -> None:
    assert is_guarded_service(arn, GUARDED) is ours
    plan = plan_hook(_hook_event(arn), lambda: (), HookSettings(GUARDED, passes_required=3, interval_seconds=10))
    assert plan.answer is not None
    assert (plan.answer.details.get("reason") == "wrong_service") is not ours


def test_a_revision_has_one_label_and_one_family() -> None:
    assert revision_label(REVISION) == "hokusai-api-development:31"
    assert revision_label("hokusai-api-development:31") == "hokusai-api-development:31"
    assert revision_label(None) == "none"
    assert revision_family(REVISION) == "hokusai-api-development"
    assert revision_family("hokusai-api-development:31") == "hokusai-api-development"
    assert service_key(f"{PREFIX}:service/hokusai-development/hokusai-api") == "hokusai-development/hokusai-api"
