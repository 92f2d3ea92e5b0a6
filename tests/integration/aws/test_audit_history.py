"""The last decisions are never crowded out of `status` by a deployment's hook answers (moto DynamoDB)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import boto3

from canary_rollback.aws.state_store import StateStore
from canary_rollback.core.audit import DecisionRecord, HookRecord
from canary_rollback.core.models import GuardedService
from tests.support.builders import T0

GUARDED = GuardedService("hokusai-development", "hokusai-api")


def _table() -> StateStore:
    client = boto3.client("dynamodb")
    client.create_table(
        TableName="state",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return StateStore(client, "state")


def test_decisions_come_back_behind_hundreds_of_hook_answers(aws: Any) -> None:
    store = _table()
    for n in range(3):
        at = T0 + timedelta(seconds=n)
        store.audit(
            GUARDED, DecisionRecord(at, f"answer-{n}", "r", "RollbackAlarm", "c", "s", None, None, None, None, False)
        )
    for n in range(240):  # a long blue/green deployment: a hook answer every 10 s
        at = T0 + timedelta(minutes=1, seconds=10 * n)
        store.audit(
            GUARDED,
            HookRecord(at, "IN_PROGRESS", {"passes": 1}, "POST_TEST_TRAFFIC_SHIFT", None, None, None, None, (), "c/s"),
        )

    assert [r["kind"] for r in store.history(GUARDED, 5)] == ["hook"] * 5
    decisions = store.history(GUARDED, 2, kinds=frozenset({"decision", "takeover"}))
    assert [r["action"] for r in decisions] == ["answer-2", "answer-1"]
    assert len(store.history(GUARDED, 10, kinds=frozenset({"decision"}))) == 3
