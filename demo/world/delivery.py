"""Events to the functions, as EventBridge and the Lambda service would deliver them.

A rule forwards an event only when the template's own pattern matches it, and the match is moto's EventBridge
pattern engine (`moto.events.models.EventPattern`), the one moto's `put_events` uses: the demo never carries a
matcher of its own. Each delivery invokes the real handler with a Lambda context.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from moto.events.models import EventPattern
from moto.events.utils import EventMessageType

from canary_rollback.handlers import probe as probe_handler
from canary_rollback.handlers import rollback as rollback_handler
from canary_rollback.watch.lease import DEPLOYMENT_DETAIL_TYPE, DEPLOYMENT_SOURCE
from demo.world.ecs_simulator import DeploymentStateChange
from demo.world.lambda_context import FakeLambdaContext
from demo.world.local_aws import ACCOUNT, REGION


class EventRule:
    """One EventBridge rule: the pattern as the template resolves it."""

    def __init__(self, pattern: Mapping[str, Any]) -> None:
        self.pattern = dict(pattern)
        self._engine = EventPattern.load(json.dumps(self.pattern))

    def matches(self, event: Mapping[str, Any]) -> bool:
        return self._engine.matches_event(cast("EventMessageType", dict(event)))  # any event, as put_events


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def scheduled_event(at: datetime, rule: str = "canary-rollback-ProbeSchedule") -> dict[str, Any]:
    """A schedule rule's "Scheduled Event" (ProbeFunction's ProbeSchedule, or RollbackFunction's Tick)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": _stamp(at),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule}"],
        "detail": {},
    }


def deployment_event(change: DeploymentStateChange, at: datetime) -> dict[str, Any]:
    """The event ECS emits (AWS docs, "Amazon ECS service deployment state change events")."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": DEPLOYMENT_DETAIL_TYPE,
        "source": DEPLOYMENT_SOURCE,
        "account": ACCOUNT,
        "time": _stamp(at),
        "region": REGION,
        "resources": [change.service_arn],
        "detail": {
            "eventType": "ERROR" if change.event_name.endswith("FAILED") else "INFO",
            "eventName": change.event_name,
            "deploymentId": change.deployment_id,
            "updatedAt": _stamp(at),
            "reason": f"ECS deployment {change.deployment_id} {change.event_name.rsplit('_', 1)[-1].lower()}.",
        },
    }


@dataclass(frozen=True)
class ForwardedChange:
    change: DeploymentStateChange
    event: dict[str, Any]


@dataclass(frozen=True)
class Delivery:
    """The template's two event rules that reach a function, and ProbeFunction's timeout (a watch's budget)."""

    alarm_rule: EventRule  # RollbackFunction's AlarmState
    deployment_rule: EventRule  # ProbeFunction's DeploymentEvents
    probe_timeout_seconds: int

    def scheduled_probe_run(self, at: datetime) -> dict[str, Any]:
        report: dict[str, Any] = probe_handler.handler(scheduled_event(at), FakeLambdaContext("ProbeFunction"))
        return report

    def rollback_tick(self, at: datetime) -> dict[str, Any]:
        """RollbackFunction's one-minute Tick schedule fires: the reconcile tick's answer (`quiet`, or decisions)."""
        event = scheduled_event(at, "canary-rollback-RollbackFunctionTick")
        response: dict[str, Any] = rollback_handler.handler(event, FakeLambdaContext("RollbackFunction"))
        return response

    def forwarded(self, changes: Sequence[DeploymentStateChange], at: datetime) -> list[ForwardedChange]:
        """The deployment state changes, as events, that the DeploymentEvents rule forwards to ProbeFunction."""
        events = ((change, deployment_event(change, at)) for change in changes)
        return [ForwardedChange(change, event) for change, event in events if self.deployment_rule.matches(event)]

    def to_probe_function(self, forwarded: ForwardedChange) -> dict[str, Any]:
        """ProbeFunction's answer to a forwarded deployment event (it may watch, for minutes of simulated time)."""
        context = FakeLambdaContext("ProbeFunction", self.probe_timeout_seconds)
        response: dict[str, Any] = probe_handler.handler(forwarded.event, context)
        return response

    def alarm_state_change(self, event: Mapping[str, Any]) -> dict[str, Any] | None:
        """RollbackFunction's answer, or None when the rule does not forward the event (it forwards ALARM)."""
        if not self.alarm_rule.matches(event):
            return None
        response: dict[str, Any] = rollback_handler.handler(dict(event), FakeLambdaContext("RollbackFunction"))
        return response
