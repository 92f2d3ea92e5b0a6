"""An ECS deployment event follows the last rollback's deployment even where no watch runs (a gated service):
ECS reverting our rollback is recorded by whichever sees it first (docs/design.md, "The rollback lock")."""

from __future__ import annotations

from typing import Any

from demo.world import CLUSTER, SERVICE
from tests.integration.conftest import make_known_good
from tests.integration.rollback.conftest import fire, state, subjects, tick, trail


def test_a_deployment_event_of_a_gated_service_records_that_ecs_reverted_our_rollback(world: Any) -> None:
    # Given a BLUE_GREEN service that finished deploying a broken :34, rolled back by a tick to :31, whose tasks
    # can no longer start
    make_known_good(world)
    alarms = tuple(world.stack.alarm_names[a] for a in ("RollbackAlarm", "FastRollbackAlarm"))
    world.simulator.gate(CLUSTER, SERVICE, "BLUE_GREEN", alarms)
    world.broken_route_revisions.add(world.revisions[34])
    world.deploy(34)
    world.minute()
    world.advance_rollout()
    world.simulator.mark_unstartable(world.revisions[31])
    fire(world)
    assert tick(world)["action"] == "rolled_back"
    world.simulator.take_events()
    world.stack.notifications()

    # When ECS gives up on :31 and announces it
    assert world.advance_rollout() == "failed"
    answers = [world.deliver(forwarded) for forwarded in world.deployment_events()]

    # Then the event is not watched (ECS gates this service), but the revert is recorded, audited and told
    assert [a["action"] for a in answers] == ["ignored"]
    lock = state(world).last_rollback
    assert lock is not None
    assert lock.status == "reverted"
    assert [r["kind"] for r in trail(world)][-1] == "reverted"
    assert subjects(world) == ["rollback to hokusai-api-development:31 REVERTED by ECS"]
