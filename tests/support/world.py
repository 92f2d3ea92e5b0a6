"""Helpers over the incident's world on moto (the `world` fixture, tests/integration/conftest.py): the seed's
history as steps, alarm events stamped on the world's clock, and what the stack recorded, read back.

The world: cluster hokusai-development, service hokusai-api, :31 running steady; :32 and :33 fail to roll
out; :34 rolls out with the MLflow route broken (the seed incident).
"""

from __future__ import annotations

import copy
import io
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import boto3

from canary_rollback.aws.state_store import StateStore
from canary_rollback.cli import main as cli_main
from canary_rollback.core.models import GuardedService, ServiceState
from demo.world import CLUSTER, SERVICE
from demo.world.local_aws import ACCOUNT, REGION
from tests.support.events import load_event
from tests.support.invoke import ROLLBACK, invoke

GUARDED = GuardedService(CLUSTER, SERVICE)
SUBJECT_PREFIX = "[canary-rollback] hokusai-api: "


def make_known_good(world: Any, runs: int = 3) -> None:
    """Scheduled runs, a minute apart, that pass on what runs now (three promote it)."""
    for _ in range(runs):
        world.minute()
        world.probe_run()


def break_with_34(world: Any) -> None:
    """The seed: :32 and :33 fail to roll out, :34 rolls out with the MLflow route broken."""
    for revision in (32, 33):
        world.simulator.mark_unstartable(world.revisions[revision])
        world.deploy(revision)
        world.minute()
        world.probe_run()
        world.advance_rollout()
    world.broken_route_revisions.add(world.revisions[34])
    world.deploy(34)
    world.minute()
    world.advance_rollout()
    world.probe_run()


def alarm_event(world: Any, shape: str = "alarm-state-change", seconds_ago: float = 0, firing: bool = True) -> Any:
    """A sample alarm event (events/SHAPE.json) stamped `seconds_ago` before the world's clock: one distinct
    alarm state change per stamp. `firing` also puts the alarm in ALARM in moto, as CloudWatch would be."""
    event = copy.deepcopy(load_event(shape))
    stamp = (world.clock() - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
    if shape == "alarm-sns":
        message = json.loads(event["Records"][0]["Sns"]["Message"])
        message["StateChangeTime"] = stamp
        event["Records"][0]["Sns"]["Message"] = json.dumps(message)
    elif shape == "alarm-lambda-action":
        event["alarmData"]["state"]["timestamp"] = stamp
    else:
        event["detail"]["state"]["timestamp"] = stamp
    if firing:
        boto3.client("cloudwatch").set_alarm_state(
            AlarmName=world.stack.alarm_names["RollbackAlarm"], StateValue="ALARM", StateReason="test: firing"
        )
    return event


def fire(world: Any, logical_id: str = "RollbackAlarm", at: datetime | None = None) -> None:
    """Put one of the stack's alarms in ALARM, its state change stamped on the world's clock (moto stamps the
    wall clock; CloudWatch stamps the moment the state changed)."""
    from moto.cloudwatch.models import cloudwatch_backends

    name = world.stack.alarm_names[logical_id]
    boto3.client("cloudwatch").set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="test: firing")
    cloudwatch_backends[ACCOUNT][REGION].alarms[name].state_updated_timestamp = at or world.clock()


def settle_alarm(world: Any, logical_id: str = "RollbackAlarm") -> None:
    """Put one of the stack's alarms back to OK."""
    boto3.client("cloudwatch").set_alarm_state(
        AlarmName=world.stack.alarm_names[logical_id], StateValue="OK", StateReason="test: recovered"
    )


def tick(world: Any) -> dict[str, Any]:
    """RollbackFunction's one-minute reconcile tick: its Scheduled Event, through the handler."""
    event = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": world.clock().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/canary-rollback-RollbackFunctionTick"],
        "detail": {},
    }
    return invoke(ROLLBACK, event)


def store(world: Any) -> StateStore:
    """The stack's state table, read as the functions read it."""
    return StateStore(boto3.client("dynamodb"), world.stack.table_name)


def state(world: Any) -> ServiceState:
    """The guarded service's state item."""
    return store(world).load(GUARDED)


def trail(world: Any, kinds: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The audit trail oldest first (promotions left out), optionally only some kinds."""
    records = [r for r in reversed(store(world).history(GUARDED, 100)) if r["kind"] != "promotion"]
    return [r for r in records if not kinds or r["kind"] in kinds]


def audit_actions(world: Any) -> list[str]:
    """The audit trail oldest first: each decision's action, or the record's kind; promotions and readiness
    checks left out."""
    return [r.get("action") or r["kind"] for r in trail(world) if r["kind"] != "readiness"]


def decisions(world: Any) -> list[str]:
    """The actions of the decisions in the audit trail, oldest first."""
    return [r["action"] for r in trail(world, ("decision",))]


def updates_to(world: Any, revision: int) -> int:
    """How many UpdateService calls named revision :N."""
    return sum(1 for _, td in world.simulator.update_calls if td == world.revisions[revision])


def rollback_updates(world: Any) -> list[str]:
    """The task definitions UpdateService was called with, the seed's own deployments (:32..:34) left out."""
    pipeline = {world.revisions[r] for r in (32, 33, 34)}
    return [td for _, td in world.simulator.update_calls if td not in pipeline]


def notification_subjects(world: Any) -> list[str]:
    """The subjects of the notifications published since the last look (reading drains them)."""
    return [n["subject"] for n in world.stack.notifications()]


def subjects(world: Any) -> list[str]:
    """`notification_subjects` without the stack's and the service's name in front of each."""
    return [subject.removeprefix(SUBJECT_PREFIX) for subject in notification_subjects(world)]


def run_cli(world: Any, *argv: str) -> tuple[int, str]:
    """`canary-rollback [--json] COMMAND ARGS` on the world's service and table: the exit code and what it printed
    (errors go to stderr, as for a user)."""
    out = io.StringIO()
    flags = ["--cluster", GUARDED.cluster, "--service", GUARDED.service, "--table", world.stack.table_name]
    json_flag = ["--json"] if "--json" in argv else []
    args = [a for a in argv if a != "--json"]
    code = cli_main([*json_flag, args[0], *flags, *args[1:]], out=out)
    return code, out.getvalue()
