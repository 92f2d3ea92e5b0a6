"""`status` and `history` render every audit kind through one renderer; every operator change is audited with
who made it. Against the moto world (the `world` fixture: :31 running steady, the stack's table)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import boto3

from canary_rollback.aws.state_store import StateStore
from canary_rollback.cli import main
from canary_rollback.core.audit import HookRecord
from canary_rollback.core.models import GuardedService

GUARDED = GuardedService("hokusai-development", "hokusai-api")
GREEN = "arn:aws:ecs:us-east-1:123456789012:service-revision/hokusai-development/hokusai-api/9313423515462893900"
MOTO_CALLER = "arn:aws:sts::123456789012:user/moto"


def cli(world: Any, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    flags = ["--cluster", GUARDED.cluster, "--service", GUARDED.service, "--table", world.stack.table_name]
    json_flag = ["--json"] if "--json" in argv else []
    args = [a for a in argv if a != "--json"]
    code = main([*json_flag, args[0], *flags, *args[1:]], out=out)
    return code, out.getvalue()


def store(world: Any) -> StateStore:
    return StateStore(boto3.client("dynamodb"), world.stack.table_name)


def test_status_and_history_show_the_gates_answers(world: Any) -> None:
    # Given a FAILED answer of the gate in the audit trail, and a hook item as an earlier version wrote it
    failed = HookRecord(
        at=datetime(2026, 11, 26, 18, 31, tzinfo=UTC),
        status="FAILED",
        details={"stage": "POST_TEST_TRAFFIC_SHIFT", "probe": "mlflow-proxy", "status": 404, "reason": "status"},
        stage="POST_TEST_TRAFFIC_SHIFT",
        execution_id="e-1",
        deployment=None,
        service_arn=None,
        target_revision=GREEN,
        probes=({"name": "mlflow-proxy", "ok": False, "status": 404, "latency_ms": 2.0, "reason": "status"},),
        service=GUARDED.key,
    )
    store(world).audit(GUARDED, failed)
    older = {"kind": "hook", "status": "IN_PROGRESS", "details": {"stage": "POST_SCALE_UP", "passes": 1},
             "stage": "POST_SCALE_UP", "at": "2026-11-26T18:30:00+00:00", "service": GUARDED.key}  # fmt: skip
    boto3.client("dynamodb").put_item(
        TableName=world.stack.table_name,
        Item={
            "pk": {"S": f"service#{GUARDED.key}"},
            "sk": {"S": "audit#2026-11-26T18:30:00.000+00:00#00000000000000000001#abcdef"},
            "at": {"S": "2026-11-26T18:30:00.000+00:00"},
            "kind": {"S": "hook"},
            "record": {"S": json.dumps(older)},
        },
    )

    # When the operator reads the trail
    code, history = cli(world, "history")
    _, status = cli(world, "status")

    # Then each answer is a line that says what the gate saw
    assert code == 0
    assert history.splitlines() == [
        "2026-11-26T18:31:00+00:00  hook  FAILED at POST_TEST_TRAFFIC_SHIFT  mlflow-proxy 404",
        "2026-11-26T18:30:00+00:00  hook  IN_PROGRESS at POST_SCALE_UP  passes 1",
    ]
    assert "  2026-11-26T18:31:00+00:00  hook  FAILED at POST_TEST_TRAFFIC_SHIFT  mlflow-proxy 404" in status
    _, raw = cli(world, "--json", "history")
    assert json.loads(raw)[0]["target_revision"] == GREEN  # the stored JSON, as before


def test_pause_resume_and_mark_are_audited_with_the_operator(world: Any) -> None:
    assert cli(world, "pause", "--reason", "ALB migration")[0] == 0
    assert cli(world, "resume")[0] == 0
    code, text = cli(
        world, "mark-known-good", "hokusai-api-development:31", "--reason", "bootstrap", "--allow-unpinned"
    )
    assert code == 0
    assert text.startswith(f"known-good of {GUARDED.key} is now {world.revisions[31]}")

    newest_first = store(world).history(GUARDED, 10)
    assert [r["kind"] for r in newest_first] == ["manual-known-good", "resume", "pause"]
    marked, resumed, paused = newest_first
    for record in (marked, resumed, paused):
        assert record["by"].startswith(f"{MOTO_CALLER} (")  # the AWS identity, then the local user
    assert resumed["paused_by"] == paused["by"]
    assert marked["reason"].startswith("bootstrap (")
    assert marked["reason"].endswith(" via CLI)")


def test_a_refused_mark_writes_nothing(world: Any, capsys: Any) -> None:
    # :30 names its image by tag and no task of it runs: its rollback could not restore what was seen
    before = store(world).load(GUARDED)
    code, _ = cli(world, "mark-known-good", "hokusai-api-development:30")
    assert code == 2
    assert "not marked:" in capsys.readouterr().err
    assert store(world).load(GUARDED) == before
    assert store(world).history(GUARDED) == []
