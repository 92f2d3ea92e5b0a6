"""The stack's alarms as CloudWatch runs them: evaluated when asked (moto never evaluates an alarm), the new state
set in moto, and a state change, only a change, emitted as CloudWatch's EventBridge event."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from demo.world.alarm_evaluator import Evaluation, evaluate_alarm, state_change_event
from demo.world.local_aws import ACCOUNT, REGION

INITIAL_STATE = "INSUFFICIENT_DATA"


@dataclass(frozen=True)
class AlarmChange:
    logical_id: str
    previous: str
    evaluation: Evaluation
    event: dict[str, Any]  # "CloudWatch Alarm State Change"

    @property
    def state(self) -> str:
        return self.evaluation.state


class StackAlarms:
    """`names`: the template's logical id -> the alarm's name in moto."""

    def __init__(self, names: Mapping[str, str], cloudwatch: Any) -> None:
        self.names = dict(names)
        self._cloudwatch = cloudwatch
        self._states: dict[str, str] = {}
        # The definitions, read once: only their state changes, and that is kept here (a call less per tick).
        described = cloudwatch.describe_alarms(AlarmNames=list(self.names.values()))["MetricAlarms"]
        by_name = {str(alarm["AlarmName"]): dict(alarm) for alarm in described}
        self._definitions = {logical_id: by_name[name] for logical_id, name in self.names.items()}

    def state(self, logical_id: str) -> str:
        return self._states.get(logical_id, INITIAL_STATE)

    def arns(self, *logical_ids: str) -> list[str]:
        return [str(self._definitions[logical_id]["AlarmArn"]) for logical_id in logical_ids]

    def evaluate(self, logical_id: str, now: datetime) -> AlarmChange | None:
        """Evaluate one alarm at `now`; on a state change, set it and return the event CloudWatch would emit."""
        name = self.names[logical_id]
        alarm = self._definitions[logical_id]
        evaluation = evaluate_alarm(alarm, self._cloudwatch, now)
        previous = self.state(logical_id)
        if evaluation.state == previous:
            return None
        self._states[logical_id] = evaluation.state
        self._cloudwatch.set_alarm_state(
            AlarmName=name, StateValue=evaluation.state, StateReason=evaluation.reason[:1000]
        )
        _stamp_state_change(name, now)
        event = state_change_event(alarm, evaluation, previous, now, REGION, ACCOUNT)
        return AlarmChange(logical_id, previous, evaluation, event)


def _stamp_state_change(name: str, at: datetime) -> None:
    """CloudWatch stamps a state change with the moment it happened; moto stamps the wall clock. DescribeAlarms
    (the reconcile tick reads it) must say the world's time, as the state change's event does."""
    from moto.cloudwatch.models import cloudwatch_backends

    cloudwatch_backends[ACCOUNT][REGION].alarms[name].state_updated_timestamp = at
