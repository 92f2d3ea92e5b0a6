"""The audit trail's kinds: stored under the attribute names earlier versions wrote, rendered by one function."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from canary_rollback.core.audit import (
    KINDS,
    AbandonedRecord,
    AuditRecord,
    DecisionRecord,
    ErrorRecord,
    HookRecord,
    ManualKnownGoodRecord,
    PauseRecord,
    PromotionRecord,
    ReadinessChangeRecord,
    RecoveryRecord,
    ResumeRecord,
    RevertedRecord,
    TakeoverRecord,
    audit_item,
    record_fields,
    render,
)

AT = datetime(2026, 11, 26, 18, 30, 5, 123456, tzinfo=UTC)
TD = "arn:aws:ecs:us-east-1:123456789012:task-definition/hokusai-api-development:"
GREEN = "arn:aws:ecs:us-east-1:123456789012:service-revision/hokusai-development/hokusai-api/9313423515462893900"

RECORDS: dict[str, AuditRecord] = {
    "decision": DecisionRecord(
        at=AT, action="rolled_back", reason="ProbeFailures in ALARM", alarm="RollbackAlarm", cluster="c",
        service="s", current=f"{TD}34", target=f"{TD}31", alarm_state="ALARM", delivery="eventbridge", dry_run=False,
    ),
    "takeover": TakeoverRecord(
        at=AT, rollback_id="r2", abandoned="r1", abandoned_alarm="RollbackAlarm",
        abandoned_at=AT - timedelta(minutes=3), lease_ended=AT - timedelta(seconds=30), cluster="c", service="s",
    ),
    "error": ErrorRecord(at=AT, alarm="RollbackAlarm", error="EcsError", message="UpdateService failed", cluster="c",
                         service="s"),
    "hook": HookRecord(
        at=AT, status="FAILED",
        details={"stage": "POST_TEST_TRAFFIC_SHIFT", "weight": 100.0, "probe": "mlflow-proxy", "url": "http://x/",
                 "status": 404, "reason": "status"},
        stage="POST_TEST_TRAFFIC_SHIFT", execution_id="e-1", deployment="arn:aws:ecs:...:service-deployment/d",
        service_arn="arn:aws:ecs:us-east-1:123456789012:service/c/s", target_revision=GREEN,
        probes=({"name": "mlflow-proxy", "ok": False, "status": 404, "latency_ms": 3.0, "reason": "status"},),
        service="c/s",
    ),
    "promotion": PromotionRecord(at=AT, arn=f"{TD}31", reason="3 consecutive all-pass runs", service="c/s"),
    "recovery": RecoveryRecord(at=AT, outcome="recovered", rollback_id="r1", to=f"{TD}31", seconds=42.5, service="c/s"),
    "manual-known-good": ManualKnownGoodRecord(at=AT, arn=f"{TD}30", reason="bootstrap (ana via CLI)", service="c/s",
                                               by="arn:aws:sts::123456789012:user/ana (ana)"),
    "pause": PauseRecord(at=AT, by="arn:aws:sts::123456789012:user/ana (ana)", reason="ALB migration", service="c/s"),
    "resume": ResumeRecord(at=AT, by="arn:aws:sts::123456789012:user/bo (bo)", paused_by="ana", service="c/s"),
    "readiness": ReadinessChangeRecord(
        at=AT, known_good=f"{TD}31", verdict="not_ready", previous="ready",
        headline="NOT READY: image hokusai/api@sha256:04336a no longer in ECR repository hokusai/api",
        missing=("image hokusai/api@sha256:04336a no longer in ECR repository hokusai/api",), unchecked=(),
        service="c/s",
    ),
    "abandoned": AbandonedRecord(
        at=AT, rollback_id="r1", alarm="RollbackAlarm", locked_at=AT - timedelta(minutes=10),
        lease_ended=AT - timedelta(minutes=8), to=f"{TD}31", current=f"{TD}31", reason="a person deployed it",
        cluster="c", service="s",
    ),
    "reverted": RevertedRecord(
        at=AT, rollback_id="r1", alarm="RollbackAlarm", from_arn=f"{TD}34", to=f"{TD}31", attempt=1,
        how="the service is back on hokusai-api-development:34", current=f"{TD}34", service="c/s",
    ),
}  # fmt: skip

# The keys each kind's JSON had when the modules built them as dicts: older items carry exactly these.
STORED_KEYS = {
    "decision": {"action", "reason", "alarm", "cluster", "service", "current", "target", "alarm_state", "delivery",
                 "dry_run", "notified", "alarm_changed_at", "told_at", "operator"},
    "takeover": {"rollback_id", "abandoned", "abandoned_alarm", "abandoned_at", "lease_ended", "cluster", "service"},
    "error": {"alarm", "error", "message", "cluster", "service"},
    "hook": {"status", "details", "stage", "execution_id", "deployment", "service_arn", "target_revision", "probes",
             "service", "would_have_answered", "would_have_details"},
    "promotion": {"arn", "reason", "service"},
    "recovery": {"outcome", "rollback_id", "to", "seconds", "service"},
    "manual-known-good": {"arn", "reason", "service", "by"},
    "pause": {"by", "reason", "service"},
    "resume": {"by", "paused_by", "service"},
    "readiness": {"known_good", "verdict", "previous", "headline", "missing", "unchecked", "service"},
    "abandoned": {"rollback_id", "alarm", "locked_at", "lease_ended", "to", "current", "reason", "cluster", "service"},
    "reverted": {"rollback_id", "alarm", "from_arn", "to", "attempt", "how", "current", "service"},
}  # fmt: skip


def test_every_kind_has_one_record_type() -> None:
    assert sorted(kind.kind for kind in KINDS) == sorted(RECORDS)
    assert {type(record) for record in RECORDS.values()} == set(KINDS)


@pytest.mark.parametrize("kind", sorted(RECORDS))
def test_a_record_is_stored_under_the_attribute_names_earlier_versions_wrote(kind: str) -> None:
    record = RECORDS[kind]
    item = audit_item(record)
    assert set(item) == {"at", "kind", "record"}
    assert item["kind"] == {"S": kind}
    assert item["at"] == {"S": "2026-11-26T18:30:05.123+00:00"}  # milliseconds: the sort key starts with it
    stored = json.loads(item["record"]["S"])
    assert stored == record_fields(record)
    assert set(stored) == {"kind", "at"} | STORED_KEYS[kind]
    assert stored["at"] == AT.isoformat()
    assert {f.name for f in fields(record)} == {"at"} | STORED_KEYS[kind]


@pytest.mark.parametrize("kind", sorted(RECORDS))
def test_a_typed_record_and_its_stored_form_render_the_same_line(kind: str) -> None:
    record = RECORDS[kind]
    stored = json.loads(audit_item(record)["record"]["S"])
    assert render(record) == render(stored)
    assert render(record).startswith(f"{AT.isoformat()}  ")


def test_the_lines_of_each_kind() -> None:
    at = AT.isoformat()
    lines = {kind: render(record) for kind, record in RECORDS.items()}
    assert lines["decision"] == f"{at}  rolled_back  -> hokusai-api-development:31  ProbeFailures in ALARM"
    assert lines["promotion"] == f"{at}  promotion  hokusai-api-development:31  3 consecutive all-pass runs"
    assert lines["manual-known-good"] == f"{at}  manual-known-good  hokusai-api-development:30  bootstrap (ana via CLI)"
    assert lines["pause"] == f"{at}  pause  by arn:aws:sts::123456789012:user/ana (ana)  ALB migration"
    assert lines["resume"] == f"{at}  resume  by arn:aws:sts::123456789012:user/bo (bo)  "
    assert lines["takeover"] == (
        f"{at}  takeover  of rollback r1, lease ended {(AT - timedelta(seconds=30)).isoformat()}"
    )
    assert lines["recovery"] == f"{at}  recovery  recovered  hokusai-api-development:31  42.5 s"
    assert lines["error"] == f"{at}  error  UpdateService failed"
    assert lines["hook"] == f"{at}  hook  FAILED at POST_TEST_TRAFFIC_SHIFT  mlflow-proxy 404"
    assert lines["readiness"] == (
        f"{at}  readiness  hokusai-api-development:31  "
        "NOT READY: image hokusai/api@sha256:04336a no longer in ECR repository hokusai/api"
    )


@pytest.mark.parametrize(
    ("details", "stage", "said"),
    [
        ({"stage": "POST_PRODUCTION_TRAFFIC_SHIFT", "weight": 100.0, "passes": 2}, "POST_PRODUCTION_TRAFFIC_SHIFT",
         "IN_PROGRESS at POST_PRODUCTION_TRAFFIC_SHIFT  passes 2"),
        ({"stage": "PRE_SCALE_UP", "note": "PRE_SCALE_UP is not a probed stage"}, "PRE_SCALE_UP",
         "IN_PROGRESS at PRE_SCALE_UP  PRE_SCALE_UP is not a probed stage"),
        ({"reason": "malformed_event", "note": "lifecycleStage is missing"}, None,
         "IN_PROGRESS  malformed_event: lifecycleStage is missing"),
        ({"stage": "POST_TEST_TRAFFIC_SHIFT", "probe": "p", "status": None, "reason": "timeout"},
         "POST_TEST_TRAFFIC_SHIFT", "IN_PROGRESS at POST_TEST_TRAFFIC_SHIFT  p timeout"),
    ],
)  # fmt: skip
def test_a_hook_answer_says_what_the_gate_saw(details: dict[str, Any], stage: str | None, said: str) -> None:
    stored = {"kind": "hook", "at": "T", "status": "IN_PROGRESS", "details": details, "stage": stage}
    assert render(stored) == f"T  hook  {said}"


def test_older_and_unknown_items_still_render() -> None:
    # a decision of an early version: no delivery, no dry_run, no target yet
    assert render({"kind": "decision", "at": "T", "action": "no_known_good", "reason": "nothing seen healthy"}) == (
        "T  no_known_good  -> none  nothing seen healthy"
    )
    assert render({"kind": "hook", "at": "T", "status": "SUCCEEDED"}) == "T  hook  SUCCEEDED  "
    assert render({"at": "T"}) == "T  ?  "
    # a kind this version does not know: its fields, never a blank line
    assert render({"kind": "audit-v9", "at": "T", "service": "c/s", "what": "x", "count": 2}) == (
        "T  audit-v9  count=2 what=x"
    )
    assert render({"kind": "audit-v9", "at": "T", "message": "said so"}) == "T  audit-v9  said so"
