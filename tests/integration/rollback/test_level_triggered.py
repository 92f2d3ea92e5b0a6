"""No alarm left unanswered (docs/design.md, "The reconcile tick"): RollbackFunction's one-minute tick, through the
real handler, on moto with ECS simulated as it behaves. An alarm that stays in ALARM is decided again until the
service is back on a revision that works, or a person must choose; and each answer is told once."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import boto3
import pytest

from canary_rollback.cli import main as cli
from canary_rollback.handlers import rollback as rollback_handler
from canary_rollback.rollback.run import RollbackApplication
from canary_rollback.runtime import build_runtime
from demo.world import CLUSTER, FAMILY, SERVICE
from tests.support.containers import Killed, app_that_dies, container_clients, fresh_container
from tests.support.invoke import ROLLBACK, invoke
from tests.support.world import (
    alarm_event,
    decisions,
    fire,
    make_known_good,
    settle_alarm,
    state,
    subjects,
    tick,
    trail,
    updates_to,
)

ROLLED_BACK = "rolled back to hokusai-api-development:31"


def table(world: Any) -> list[str]:
    return ["--cluster", CLUSTER, "--service", SERVICE, "--table", world.stack.table_name]


def register_revision(world: Any, revision: int) -> None:
    """Another revision of the family (the world registers 1..34), e.g. the on-call's fix."""
    response = boto3.client("ecs").register_task_definition(
        family=FAMILY,
        containerDefinitions=[{"name": "api", "image": f"hokusai/api:build-{revision}", "memory": 512}],
    )
    world.revisions[revision] = response["taskDefinition"]["taskDefinitionArn"]


# ---- the tick itself -----------------------------------------------------------------------------------------
def test_a_quiet_tick_makes_one_describe_alarms_call_and_no_write(world: Any) -> None:
    # Given no rollback alarm in ALARM, and every AWS call of the function recorded
    calls: list[tuple[str, str]] = []
    clients = container_clients(on_call=lambda service, operation, _: calls.append((service, operation)))
    runtime = build_runtime(
        world.stack.environment("RollbackFunction"), need_probes=False, clients=clients, clock=world.clock
    )
    rollback_handler.application.set(RollbackApplication(runtime))
    before = trail(world)

    # When the schedule ticks
    answer = tick(world)

    # Then it is quiet, at the cost of exactly one DescribeAlarms call: no state read, no write, no audit
    assert answer["action"] == "quiet"
    assert calls == [("cloudwatch", "DescribeAlarms")]
    assert trail(world) == before
    assert world.stack.notifications() == []


def test_resume_then_tick_rolls_back(broken: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a pause, and the alarm's one state change answered `paused` (it sends no second event)
    assert cli(["pause", *table(broken), "--reason", "ALB migration"]) == 0
    fire(broken)
    assert tick(broken)["action"] == "paused"

    # When an operator resumes, and the next tick comes while the alarm still fires
    assert cli(["resume", *table(broken)]) == 0
    broken.minute()
    answer = tick(broken)

    # Then the service is rolled back at that tick
    assert answer["action"] == "rolled_back"
    assert broken.current_revision() == broken.revisions[31]
    assert updates_to(broken, 31) == 1
    assert subjects(broken) == ["ALARM while automatic rollback is paused: not rolled back", ROLLED_BACK]

    # and once the probes see it recover, ticks while the alarm clears tell nobody anything new
    broken.advance_rollout()
    broken.minute()
    broken.probe_run()
    assert [tick(broken)["action"], tick(broken)["action"]] == ["in_progress", "in_progress"]
    assert subjects(broken) == ["recovered on hokusai-api-development:31"]
    capsys.readouterr()


def test_three_ticks_while_paused_send_one_notification(broken: Any) -> None:
    # Given a pause and an alarm that stays in ALARM
    assert cli(["pause", *table(broken), "--reason", "migrating"]) == 0
    fire(broken)

    # When the schedule ticks three times
    answers = []
    for _ in range(3):
        answers.append(tick(broken)["action"])
        broken.minute()

    # Then each tick is audited, but people are told once
    assert answers == ["paused", "paused", "paused"]
    assert decisions(broken) == ["paused", "paused", "paused"]
    assert [r["notified"] for r in trail(broken, ("decision",))] == [True, False, False]
    assert subjects(broken) == ["ALARM while automatic rollback is paused: not rolled back"]
    assert updates_to(broken, 31) == 0


def test_a_changed_answer_is_told_again(broken: Any) -> None:
    # Given the paused answer was told once
    assert cli(["pause", *table(broken), "--reason", "migrating"]) == 0
    fire(broken)
    tick(broken)
    broken.stack.notifications()

    # When the answer changes (a dry run while still paused would not act either: it is a different answer)
    assert cli(["resume", *table(broken)]) == 0
    fresh_container(broken, DRY_RUN="true")
    broken.minute()
    first, second = tick(broken), tick(broken)

    # Then the new answer is told, once
    assert (first["action"], second["action"]) == ("dry_run", "dry_run")
    assert subjects(broken) == ["would roll back to hokusai-api-development:31 (dry run)"]


def test_an_alarm_state_change_answered_without_acting_is_re_decided_not_replayed(broken: Any) -> None:
    # Given the alarm's event answered `paused` (and that answer is stored by Idempotency for an hour)
    assert cli(["pause", *table(broken), "--reason", "migrating"]) == 0
    event = alarm_event(broken)
    assert invoke(ROLLBACK, event)["action"] == "paused"
    assert cli(["resume", *table(broken)]) == 0

    # When a redelivery of the same event arrives it replays the stored answer, but the tick decides again
    assert invoke(ROLLBACK, event)["action"] == "paused"
    fire(broken)
    assert tick(broken)["action"] == "rolled_back"
    assert updates_to(broken, 31) == 1


# ---- "ECS is deploying" --------------------------------------------------------------------------------------
def test_a_gated_deployment_ending_broken_is_rolled_back_at_the_next_tick(world: Any) -> None:
    # Given a BLUE_GREEN service whose deployment alarms are both rollback alarms (ECS rolls back on them itself)
    make_known_good(world)
    alarms = tuple(world.stack.alarm_names[a] for a in ("RollbackAlarm", "FastRollbackAlarm"))
    world.simulator.gate(CLUSTER, SERVICE, "BLUE_GREEN", alarms)
    world.stack.notifications()

    # When :34 (broken) is deployed and the alarm fires during the deployment
    world.broken_route_revisions.add(world.revisions[34])
    world.deploy(34)
    world.minute()
    fire(world)
    during = [tick(world)["action"], tick(world)["action"]]

    # Then the ticks leave it to ECS, told once
    assert during == ["in_progress", "in_progress"]
    assert subjects(world) == ["ALARM during an ECS deployment: decided again when it ends"]
    assert "ECS is running a BLUE_GREEN deployment; decided again when it ends" in trail(world)[-1]["reason"]

    # and when the deployment ends on the broken revision, the next tick rolls it back
    world.advance_rollout()
    world.minute()
    answer = tick(world)
    assert answer["action"] == "rolled_back"
    assert world.current_revision() == world.revisions[31]
    assert subjects(world) == [ROLLED_BACK]


def test_scaling_is_not_deploying(world: Any) -> None:
    # Given a BLUE_GREEN service that finished deploying the broken :34, then lost a task (being replaced)
    make_known_good(world)
    world.simulator.gate(CLUSTER, SERVICE, "BLUE_GREEN", ())
    world.broken_route_revisions.add(world.revisions[34])
    world.deploy(34)
    world.minute()
    world.advance_rollout()
    world.simulator.scale_in(CLUSTER, SERVICE, running=1)

    # When the alarm arrives
    answer = invoke(ROLLBACK, alarm_event(world))

    # Then running < desired on one COMPLETED deployment is not a deployment: it is rolled back
    assert answer["action"] == "rolled_back"
    assert world.current_revision() == world.revisions[31]


def test_a_gated_deployment_ecs_would_not_roll_back_is_stopped(world: Any) -> None:
    # Given a BLUE_GREEN service with no deployment alarms: ECS would finish a broken deployment after its bake time
    make_known_good(world)
    world.simulator.with_service_deployments()
    world.simulator.gate(CLUSTER, SERVICE, "BLUE_GREEN", ())
    world.broken_route_revisions.add(world.revisions[34])
    world.deploy(34)
    world.stack.notifications()

    # When the alarm fires during the deployment and the tick decides
    world.minute()
    fire(world)
    answer = tick(world)

    # Then the deployment is stopped with a rollback: ECS goes back to the revision still running, no UpdateService
    assert answer["action"] == "rolled_back"
    assert "StopServiceDeployment ROLLBACK" in answer["reason"]
    assert answer["target"] == world.revisions[31]
    assert len(world.simulator.stopped_deployments) == 1
    assert world.current_revision() == world.revisions[31]
    assert updates_to(world, 31) == 0
    assert subjects(world) == ["stopped the deployment: back to hokusai-api-development:31"]


# ---- a rollback is done when ECS finishes it -----------------------------------------------------------------
def test_a_circuit_breaker_revert_of_our_rollback_is_reverted_in_audit_notification_and_status(
    broken: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the known-good's tasks can no longer start (its image digest expired, say), and the alarm fires
    broken.simulator.mark_unstartable(broken.revisions[31])
    fire(broken)
    assert tick(broken)["action"] == "rolled_back"
    assert subjects(broken) == [ROLLED_BACK]

    # When the circuit breaker gives up on :31 and puts the service back on :34
    assert broken.advance_rollout() == "failed"
    broken.minute()
    answer = tick(broken)

    # Then the rollback is `reverted`: recorded, audited, and told plainly
    assert answer["action"] == "reverted"
    lock = state(broken).last_rollback
    assert lock is not None
    assert (lock.status, lock.attempt) == ("reverted", 1)
    assert decisions(broken)[-1] == "reverted"
    (note,) = broken.stack.notifications()
    assert note["subject"] == "[canary-rollback] hokusai-api: rollback to hokusai-api-development:31 REVERTED by ECS"
    told = json.loads(note["message"])  # the queue gets the structured decision (docs/operate.md)
    assert told["facts"]["Tried"].startswith("rollback ")
    assert "hokusai-api-development:34 -> hokusai-api-development:31" in told["facts"]["Tried"]
    assert told["facts"]["ECS did"].startswith("the service is back on hokusai-api-development:34")
    assert told["current"]["label"] == "hokusai-api-development:34"
    assert "the next tick (within a minute) tries once more" in told["next_steps"][0]
    capsys.readouterr()
    assert cli(["status", *table(broken)]) == 0
    shown = capsys.readouterr().out
    assert "(REVERTED by ECS, try 1" in shown

    # and a reverted rollback holds no cooldown: the next tick tries once more
    broken.minute()
    assert tick(broken)["action"] == "rolled_back"
    assert updates_to(broken, 31) == 2
    assert subjects(broken) == [ROLLED_BACK]

    # When ECS reverts that too: reverted (the last try), then not_restorable, told once
    broken.advance_rollout()
    broken.minute()
    assert tick(broken)["action"] == "reverted"
    last_try = json.loads(broken.stack.notifications()[0]["message"])
    assert last_try["next_steps"][0].startswith("Nothing automatic: that was try 2 of 2")
    answers = [tick(broken)["action"], tick(broken)["action"]]
    assert answers == ["not_restorable", "not_restorable"]
    assert subjects(broken) == ["ALARM but hokusai-api-development:31 cannot be restored"]
    assert updates_to(broken, 31) == 2
    capsys.readouterr()
    assert cli(["status", *table(broken)]) == 0
    assert "NOT RESTORABLE" in capsys.readouterr().out

    # until an operator marks a known-good again (here: :31, once its tasks can start again)
    broken.simulator._broken_revisions.discard(broken.revisions[31])
    marked = [
        "mark-known-good",
        *table(broken),
        broken.revisions[31],
        "--reason",
        "digest restored",
        "--allow-unpinned",
    ]
    assert cli(marked) == 0
    broken.minute()
    assert tick(broken)["action"] == "rolled_back"
    capsys.readouterr()


def test_a_scheduled_run_that_sees_the_revert_first_records_it(broken: Any) -> None:
    # Given our rollback, reverted by the circuit breaker
    broken.simulator.mark_unstartable(broken.revisions[31])
    fire(broken)
    assert tick(broken)["action"] == "rolled_back"
    broken.advance_rollout()
    broken.stack.notifications()

    # When the scheduled probe run comes first
    broken.minute()
    broken.probe_run()

    # Then it records the revert (audited, told), and the next tick tries again rather than answering reverted
    lock = state(broken).last_rollback
    assert lock is not None
    assert lock.status == "reverted"
    assert [r["kind"] for r in trail(broken)][-1] == "reverted"
    assert subjects(broken) == ["rollback to hokusai-api-development:31 REVERTED by ECS"]
    assert tick(broken)["action"] == "rolled_back"


# ---- superseded ----------------------------------------------------------------------------------------------
def test_a_late_alarm_after_a_healthy_newer_deploy_is_superseded(broken: Any) -> None:
    # Given the alarm changed state, and 30 s later the on-call shipped a fix (:35) that rolled out healthy
    register_revision(broken, 35)
    event = alarm_event(broken)
    fire(broken)
    broken.clock.set(broken.clock() + timedelta(seconds=30))
    broken.deploy(35)
    broken.minute()
    broken.advance_rollout()
    broken.probe_run()

    # When the alarm's event arrives late (its first attempt was throttled), and ticks follow
    late = invoke(ROLLBACK, event)
    again = tick(broken)

    # Then nothing rolls the fix back: `superseded`, told once
    assert (late["action"], again["action"]) == ("superseded", "superseded")
    assert "before the current deployment of hokusai-api-development:35" in late["reason"]
    assert broken.current_revision() == broken.revisions[35]
    assert updates_to(broken, 31) == 0
    assert subjects(broken) == ["ALARM older than the current deployment: not acted on yet"]


def test_a_broken_newer_deploy_is_rolled_back_after_its_own_probes_fail(broken: Any) -> None:
    # Given the alarm fired for :34, and :35, broken too, rolled out after it
    register_revision(broken, 35)
    fire(broken)
    broken.clock.set(broken.clock() + timedelta(seconds=30))
    broken.broken_route_revisions.add(broken.revisions[35])
    broken.deploy(35)
    broken.minute()
    broken.advance_rollout()
    assert tick(broken)["action"] == "superseded"  # nothing has judged :35 yet

    # When a probe run of :35 fails, and the alarm still fires
    broken.probe_run()
    broken.minute()
    answer = tick(broken)

    # Then :35 is rolled back to the known-good
    assert answer["action"] == "rolled_back"
    assert broken.current_revision() == broken.revisions[31]


# ---- finishing a rollback is only for its own ----------------------------------------------------------------
def test_a_persons_rollback_is_never_claimed(broken: Any) -> None:
    # Given our invocation died after taking the lock, before UpdateService reached ECS
    rollback_handler.application.set(app_that_dies(broken, "before-call"))
    with pytest.raises(Killed):
        invoke(ROLLBACK, alarm_event(broken))
    lock = state(broken).last_rollback
    assert lock is not None
    assert lock.status == "pending"
    fresh_container(broken)

    # When, ten minutes later, a person pauses and rolls back to :31 by hand
    broken.clock.set(broken.clock() + timedelta(minutes=10))
    assert cli(["pause", *table(broken), "--reason", "rolling back by hand"]) == 0
    broken.deploy(31)
    broken.minute()
    broken.advance_rollout()
    broken.stack.notifications()
    fire(broken)
    answer = tick(broken)

    # Then the abandoned lock is marked failed (audited as abandoned), the answer is `paused`, nothing is claimed
    assert answer["action"] == "paused"
    after = state(broken).last_rollback
    assert after is not None
    assert (after.rollback_id, after.status) == (lock.rollback_id, "failed")
    assert [r["kind"] for r in trail(broken, ("abandoned",))] == ["abandoned"]
    assert "rolled_back" not in decisions(broken)
    assert updates_to(broken, 31) == 1  # the person's

    # and after resume, the known-good the person deployed is not ours to claim (no cooldown follows it)
    assert cli(["resume", *table(broken)]) == 0
    settle_alarm(broken)
    broken.minute()
    fire(broken)
    assert tick(broken)["action"] == "already_known_good"
