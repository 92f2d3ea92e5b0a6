"""The rollback's answer comes back before the invocation's deadline whatever DynamoDB or SNS do
(docs/design.md, "Answers on time"): each is pointed, through botocore's per-service endpoint, at a loopback
socket that accepts and never answers, while everything else stays on moto."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from canary_rollback.aws.state_store import StateStore
from canary_rollback.core.errors import StateStoreError
from canary_rollback.core.models import GuardedService
from canary_rollback.handlers import rollback as rollback_handler
from canary_rollback.rollback.run import REPORT_MARGIN_SECONDS, RollbackApplication
from canary_rollback.runtime import build_runtime
from demo.world import CLUSTER, SERVICE
from demo.world.lambda_context import FakeLambdaContext
from tests.integration.conftest import alarm_event, break_with_34, make_known_good
from tests.support.hanging import hanging_endpoint

GUARDED = GuardedService(CLUSTER, SERVICE)
# The reporting gets a few seconds of this invocation; everything before it runs against moto in well under that.
TIMEOUT_SECONDS = int(REPORT_MARGIN_SECONDS) + 4


@pytest.fixture
def broken(world: Any) -> Any:
    make_known_good(world)
    break_with_34(world)
    return world


@pytest.fixture
def hanging() -> Iterator[str]:
    with hanging_endpoint() as url:
        yield url


def cold_start(world: Any) -> None:
    """A new container: its clients read the endpoints from the environment as it is now."""
    runtime = build_runtime(world.stack.function_env, need_probes=False, clock=world.clock)
    rollback_handler.application.set(RollbackApplication(runtime))


def test_sns_hanging_after_update_service_does_not_hold_the_answer(
    broken: Any, hanging: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the notification topic's API hanging
    monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", hanging)
    cold_start(broken)
    event = alarm_event(broken)
    context = FakeLambdaContext("RollbackFunction", TIMEOUT_SECONDS)

    # When the alarm rolls the service back
    answer = rollback_handler.handler(event, context)

    # Then the answer is rolled_back, returned before the invocation's deadline, and the lock is done
    assert (answer["action"], answer["target"]) == ("rolled_back", broken.revisions[31])
    assert context.get_remaining_time_in_millis() > 0
    assert broken.current_revision() == broken.revisions[31]
    lock = StateStore(boto3.client("dynamodb"), broken.stack.table_name).load(GUARDED).last_rollback
    assert lock is not None
    assert lock.status == "done"


def test_dynamodb_hanging_fails_retryably_before_the_deadline_and_never_acts(
    broken: Any, hanging: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the state table's API hanging: no lock can be taken, so no rollback may act (two responders could)
    event = alarm_event(broken)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", hanging)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")  # a short retry budget keeps the test short; see the design page
    cold_start(broken)
    context = FakeLambdaContext("RollbackFunction", 20)

    # When the alarm arrives: the answer is a retryable failure (Lambda retries; then the failure queue alarms)
    with pytest.raises(StateStoreError):
        rollback_handler.handler(event, context)

    # Then it came before the deadline, and ECS was never asked to move the service
    assert context.get_remaining_time_in_millis() > 0
    assert broken.current_revision() == broken.revisions[34]
    assert broken.revisions[31] not in [td for _, td in broken.simulator.update_calls]
