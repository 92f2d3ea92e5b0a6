"""`canary-rollback`: operate a guarded service from a laptop (AWS, or any AWS_ENDPOINT_URL).

Exit codes: 0 fine; 1 the answer is bad news (a probe failed, the alarm would not roll back); 2 usage or
configuration error; 3 an AWS call failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from canary_rollback import operate
from canary_rollback.core.arns import revision_label
from canary_rollback.core.audit import record_fields, render
from canary_rollback.core.errors import CanaryRollbackError, ConfigError, EcsError, StateStoreError
from canary_rollback.core.models import GuardedService, KnownGood, ServiceState
from canary_rollback.runtime import Runtime

EXIT_OK, EXIT_BAD_NEWS, EXIT_USAGE, EXIT_AWS = 0, 1, 2, 3


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.command(args, out))
    except ConfigError as exc:
        print(f"canary-rollback: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (EcsError, StateStoreError) as exc:
        print(f"canary-rollback: AWS error: {exc}", file=sys.stderr)
        return EXIT_AWS
    except CanaryRollbackError as exc:
        print(f"canary-rollback: {exc}", file=sys.stderr)
        return EXIT_AWS


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="canary-rollback", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")

    def guarded_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--cluster", default=os.getenv("CLUSTER_NAME"), help="ECS cluster (env CLUSTER_NAME)")
        sub.add_argument("--service", default=os.getenv("SERVICE_NAME"), help="ECS service (env SERVICE_NAME)")
        sub.add_argument("--table", default=os.getenv("STATE_TABLE"), help="the stack's StateTable (env STATE_TABLE)")

    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    status = commands.add_parser("status", help="current and known-good task definitions, streak, last decisions")
    guarded_options(status)
    status.set_defaults(command=_status)

    history = commands.add_parser("history", help="the audit trail of decisions, newest first")
    guarded_options(history)
    history.add_argument("--limit", type=int, default=20)
    history.set_defaults(command=_history)

    mark = commands.add_parser("mark-known-good", help="record a task definition as known-good (audited)")
    guarded_options(mark)
    mark.add_argument("task_definition", metavar="ARN", help="task definition ARN or family:revision")
    mark.add_argument("--reason", default="marked by an operator")
    mark.add_argument(
        "--allow-unpinned",
        action="store_true",
        help="record a revision that names images by tag although no running task says which digests they are",
    )
    mark.set_defaults(command=_mark_known_good)

    rollback = commands.add_parser("rollback", help="what the alarm would decide now")
    guarded_options(rollback)
    rollback.add_argument("--dry-run", action="store_true", required=True, help="required: decide, never act")
    rollback.add_argument("--cooldown", type=int, default=int(os.getenv("ROLLBACK_COOLDOWN_SECONDS", "900")))
    rollback.set_defaults(command=_rollback_dry_run)

    pause = commands.add_parser("pause", help="stop automatic rollback (audited; probes and tracking go on)")
    guarded_options(pause)
    pause.add_argument("--reason", required=True, help="why: shown by status and in every paused notification")
    pause.set_defaults(command=_pause)

    resume = commands.add_parser("resume", help="let alarms roll back again (audited)")
    guarded_options(resume)
    resume.set_defaults(command=_resume)

    probe = commands.add_parser("probe", help="run probe specs from a file and print a table")
    probe.add_argument("--config", required=True, type=Path, help="JSON file: an array of probe specs")
    probe.set_defaults(command=_probe)
    return parser


def _require_guarded(args: argparse.Namespace) -> GuardedService:
    given = {"--cluster": args.cluster, "--service": args.service, "--table": args.table}
    missing = [flag for flag, value in given.items() if not value]
    if missing:
        raise ConfigError(f"{', '.join(missing)} required (or CLUSTER_NAME / SERVICE_NAME / STATE_TABLE)")
    return GuardedService(args.cluster, args.service)


def _connect(args: argparse.Namespace) -> tuple[Runtime, GuardedService]:
    guarded = _require_guarded(args)
    return operate.operator_runtime(guarded, args.table, cooldown_seconds=getattr(args, "cooldown", None)), guarded


def _emit(args: argparse.Namespace, out: TextIO, data: Any, lines: list[str]) -> None:
    if args.json:
        print(json.dumps(data, indent=2, default=str), file=out)
    else:
        print("\n".join(lines), file=out)


def _status(args: argparse.Namespace, out: TextIO) -> int:
    view = operate.status(*_connect(args))
    service, state = view.service, view.state
    kg, cand, last = state.known_good, state.candidate, state.last_rollback
    data = {
        "service": view.guarded.key,
        "current": service.task_definition_arn,
        "steady": service.steady,
        "deployments": [
            {"status": d.status, "task_definition": d.task_definition_arn, "rollout": d.rollout_state,
             "running": d.running_count, "desired": d.desired_count}
            for d in service.deployments
        ],
        "known_good": {"arn": kg.arn, "since": kg.since.isoformat(), "reason": kg.reason,
                       "copied_from": kg.copied_from, "images": _images(kg)} if kg else None,
        "candidate": {"arn": cand.arn, "streak": cand.streak} if cand else None,
        "last_rollback": {"id": last.rollback_id, "at": last.at.isoformat(), "from": last.from_arn, "to": last.to_arn,
                          "status": last.status, "outcome": last.outcome} if last else None,
        "paused": {"by": state.paused.by, "at": state.paused.at.isoformat(), "reason": state.paused.reason}
                  if state.paused else None,
        "recent": list(view.recent),
    }  # fmt: skip
    phase = "steady" if service.steady else "deploying"
    lines = [
        f"service        {view.guarded.key}",
        f"current        {revision_label(service.task_definition_arn)}  ({phase})",
        f"known-good     {revision_label(kg.arn) + '  since ' + kg.since.isoformat() if kg else 'none yet'}",
        *(_image_lines(kg) if kg else []),
        f"candidate      {revision_label(cand.arn) + f'  streak {cand.streak}' if cand else 'none'}",
        f"last rollback  {_rollback_line(state)}",
        f"automatic      {_pause_line(state)}",
        "recent decisions:",
        *(f"  {render(record)}" for record in view.recent),
    ]
    if not view.recent:
        lines.append("  (none)")
    _emit(args, out, data, lines)
    return EXIT_OK


def _images(known_good: KnownGood) -> list[dict[str, str | None]] | None:
    images = operate.restored_images(known_good)
    return None if images is None else [asdict(image) for image in images]


def _image_lines(known_good: KnownGood) -> list[str]:
    images = operate.restored_images(known_good)
    if images is None:
        return ["  (recorded before snapshots: images as the revision names them, digests unknown)"]
    return [f"  {i.container:<12} {i.image}  {'@ ' + i.digest if i.digest else '(no digest recorded)'}"
            for i in images]  # fmt: skip


def _rollback_line(state: ServiceState) -> str:
    last = state.last_rollback
    if last is None:
        return "never"
    outcome = f", {last.outcome}" if last.outcome else ""
    moved = f"{revision_label(last.from_arn)} -> {revision_label(last.to_arn)}"
    return f"{moved} at {last.at.isoformat()} ({last.status}{outcome})"


def _pause_line(state: ServiceState) -> str:
    pause = state.paused
    if pause is None:
        return "on (alarms roll back)"
    return f"PAUSED by {pause.by} at {pause.at.isoformat()}: {pause.reason}"


def _history(args: argparse.Namespace, out: TextIO) -> int:
    records = operate.history(*_connect(args), args.limit)
    _emit(args, out, list(records), [render(r) for r in records] or ["(no decisions recorded)"])
    return EXIT_OK


def _pause(args: argparse.Namespace, out: TextIO) -> int:
    runtime, guarded = _connect(args)
    record = operate.pause(runtime, guarded, args.reason)
    lines = [f"automatic rollback of {guarded.key} paused by {record.by}: {record.reason}"]
    _emit(args, out, record_fields(record), lines)
    return EXIT_OK


def _resume(args: argparse.Namespace, out: TextIO) -> int:
    runtime, guarded = _connect(args)
    record = operate.resume(runtime, guarded)
    note = "" if record.paused_by is not None else " (it was not paused)"
    _emit(args, out, record_fields(record), [f"automatic rollback of {guarded.key} resumed by {record.by}{note}"])
    return EXIT_OK


def _mark_known_good(args: argparse.Namespace, out: TextIO) -> int:
    runtime, guarded = _connect(args)
    marked = operate.mark_known_good(
        runtime, guarded, args.task_definition, args.reason, allow_unpinned=args.allow_unpinned
    )
    if isinstance(marked, operate.NotMarked):
        print(f"canary-rollback: not marked: {marked.reason}", file=sys.stderr)
        return EXIT_USAGE
    warnings = []
    if not marked.active:
        warnings.append("note: this revision is INACTIVE; a rollback will register a copy of it")
    if marked.other_family:
        warnings.append(f"warning: {marked.family} is not the family the service runs")
    _emit(
        args,
        out,
        {**record_fields(marked.record), "images": _images(marked.known_good), "warnings": warnings},
        [f"known-good of {guarded.key} is now {marked.record.arn}", *_image_lines(marked.known_good), *warnings],
    )
    return EXIT_OK


def _rollback_dry_run(args: argparse.Namespace, out: TextIO) -> int:
    decision = operate.preview_rollback(*_connect(args))
    data = {"action": decision.action, "reason": decision.reason, "current": decision.current,
            "target": decision.target, "needs_copy": decision.needs_copy}  # fmt: skip
    lines = [
        f"if the alarm fired now: {decision.action}",
        f"  {revision_label(decision.current)} -> {revision_label(decision.target)}",
        f"  {decision.reason}",
    ]
    _emit(args, out, data, lines)
    return EXIT_OK if decision.action == "dry_run" else EXIT_BAD_NEWS


def _probe(args: argparse.Namespace, out: TextIO) -> int:
    results = operate.probe(args.config)
    width = max(len(r.name) for r in results)
    lines = [f"{'probe':<{width}}  ok    status  latency_ms  reason"]
    for r in results:
        latency = f"{r.latency_ms:.1f}" if r.latency_ms is not None else "-"
        lines.append(f"{r.name:<{width}}  {'yes' if r.ok else 'NO ':<4}  {r.status or '-':<6}  {latency:<10}  "
                     f"{r.reason or ''}{' (' + r.detail + ')' if r.detail else ''}")  # fmt: skip
    _emit(args, out, [r.as_dict() for r in results], lines)
    return EXIT_OK if all(r.ok for r in results) else EXIT_BAD_NEWS


if __name__ == "__main__":
    sys.exit(main())
