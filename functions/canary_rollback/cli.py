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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from canary_rollback import operate
from canary_rollback.core.arns import revision_label
from canary_rollback.core.audit import record_fields, render
from canary_rollback.core.errors import CanaryRollbackError, ConfigError, EcsError, StateStoreError
from canary_rollback.core.models import (
    Decision,
    GuardedService,
    KnownGood,
    ServiceObservation,
    ServiceState,
    WatchLease,
)
from canary_rollback.runtime import Runtime

EXIT_OK, EXIT_BAD_NEWS, EXIT_USAGE, EXIT_AWS = 0, 1, 2, 3


def main(argv: list[str] | None = None, out: TextIO | None = None, answers: TextIO | None = None) -> int:
    """`answers`: where a confirmation is read from (standard input unless a test gives one)."""
    out = out or sys.stdout
    parser = _parser()
    args = parser.parse_args(argv)
    args.answers = answers or sys.stdin
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
        sub.add_argument(
            "--stack",
            default=os.getenv("AWS_SAM_STACK_NAME"),
            help="the canary-rollback stack: service, table and topic from its outputs (env AWS_SAM_STACK_NAME)",
        )
        sub.add_argument("--cluster", help="ECS cluster (env CLUSTER_NAME); overrides the stack's")
        sub.add_argument("--service", help="ECS service (env SERVICE_NAME); overrides the stack's")
        sub.add_argument("--table", help="the stack's StateTable (env STATE_TABLE); overrides the stack's")

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

    rollback = commands.add_parser(
        "rollback",
        help="roll back to the known-good now (shows the plan, asks to confirm; audited); --dry-run: what the "
        "alarm would decide",
    )
    guarded_options(rollback)
    rollback.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    rollback.add_argument("--reason", default="rolled back by hand", help="why: in the audit trail and the card")
    rollback.add_argument("--dry-run", action="store_true", help="only say what the alarm would decide now; never act")
    rollback.add_argument("--cooldown", type=int, default=int(os.getenv("ROLLBACK_COOLDOWN_SECONDS", "900")))
    rollback.set_defaults(command=_rollback)

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


def _connect(args: argparse.Namespace) -> tuple[Runtime, GuardedService]:
    """The guarded service: `--cluster/--service/--table` as given, else the stack's (`--stack`, or
    AWS_SAM_STACK_NAME), else CLUSTER_NAME / SERVICE_NAME / STATE_TABLE."""
    stack = operate.read_stack_settings(args.stack) if args.stack else None
    cluster = args.cluster or (stack.cluster if stack else os.getenv("CLUSTER_NAME"))
    service = args.service or (stack.service if stack else os.getenv("SERVICE_NAME"))
    table = args.table or (stack.table if stack else os.getenv("STATE_TABLE"))
    given = {"--cluster": cluster, "--service": service, "--table": table}
    missing = [flag for flag, value in given.items() if not value]
    if missing or cluster is None or service is None or table is None:
        raise ConfigError(
            f"{', '.join(missing)} required: pass --stack NAME (or AWS_SAM_STACK_NAME), or the options "
            "(or CLUSTER_NAME / SERVICE_NAME / STATE_TABLE)"
        )
    guarded = GuardedService(cluster, service)
    runtime = operate.operator_runtime(
        guarded,
        table,
        cooldown_seconds=getattr(args, "cooldown", None),
        stack=stack,
        topic=os.getenv("NOTIFY_TOPIC_ARN") or None,
    )
    return runtime, guarded


def _emit(args: argparse.Namespace, out: TextIO, data: Any, lines: list[str]) -> None:
    if args.json:
        print(json.dumps(data, indent=2, default=str), file=out)
    else:
        print("\n".join(lines), file=out)


def _status(args: argparse.Namespace, out: TextIO) -> int:
    view = operate.status(*_connect(args))
    service, state = view.service, view.state
    now = view.now or datetime.now(UTC)
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
                          "status": last.status, "outcome": last.outcome, "attempt": last.attempt,
                          "reverted_at": last.reverted_at.isoformat() if last.reverted_at else None,
                          "reverted_how": last.reverted_how, "not_restorable": state.not_restorable}
                         if last else None,
        "paused": {"by": state.paused.by, "at": state.paused.at.isoformat(), "reason": state.paused.reason}
                  if state.paused else None,
        "readiness": _readiness(state),
        "recent": list(view.recent),
        "phase": view.phase,
        "last_rollback_phase": last.phase(now) if last else None,
        "decisions": list(view.decisions),
        "watch": _watch_data(view.watch, now),
        "failing": [failure.as_json() for failure in state.probe_failures],
    }  # fmt: skip
    lines = [
        f"service        {view.guarded.key}",
        f"current        {revision_label(service.task_definition_arn)}  ({_phase_line(service)})",
        f"known-good     {revision_label(kg.arn) + '  since ' + kg.since.isoformat() if kg else 'none yet'}",
        *(_image_lines(kg) if kg else []),
        f"candidate      {revision_label(cand.arn) + f'  streak {cand.streak}' if cand else 'none'}",
        f"failing        {_failing_line(state)}",
        *(f"  {failure.line()}" for failure in state.probe_failures),
        f"last rollback  {view.last_rollback}",
        f"automatic      {_pause_line(state)}",
        *_readiness_lines(state),
        f"watch          {_watch_line(view.watch, now)}",
        "last rollback decisions:",
        *(f"  {render(record)}" for record in view.decisions),
        *(["  (none)"] if not view.decisions else []),
        "recent activity:",
        *(f"  {render(record)}" for record in view.recent),
        *(["  (none)"] if not view.recent else []),
    ]
    _emit(args, out, data, lines)
    return EXIT_OK


def _failing_line(state: ServiceState) -> str:
    count = len(state.probe_failures)
    return "none" if not count else f"{count} probe(s) in the latest run or round (the rollback's evidence)"


def _phase_line(service: ServiceObservation) -> str:
    """Scaling is not deploying: one rolled-out deployment with tasks missing is said as such."""
    if service.phase == "scaling":
        return f"scaling: {service.running_count} of {service.desired_count} tasks running, no deployment"
    if service.phase == "deploying":
        return f"deploying: {len(service.deployments)} deployment(s)"
    return "steady"


def _watch_line(watch: WatchLease | None, now: datetime) -> str:
    if watch is None:
        return "none"
    if now < watch.watch_until and now < watch.holder_until:
        beat = watch.heartbeat_at.isoformat()
        return f"live until {watch.watch_until.isoformat()} (holder {watch.holder}, heartbeat {beat})"
    return f"expired at {min(watch.watch_until, watch.holder_until).isoformat()} (last event {watch.last_event})"


def _watch_data(watch: WatchLease | None, now: datetime) -> dict[str, Any] | None:
    if watch is None:
        return None
    live = now < watch.watch_until and now < watch.holder_until
    return {"holder": watch.holder, "watch_until": watch.watch_until.isoformat(), "live": live,
            "holder_until": watch.holder_until.isoformat(), "last_event": watch.last_event}  # fmt: skip


def _images(known_good: KnownGood) -> list[dict[str, str | None]] | None:
    images = operate.restored_images(known_good)
    return None if images is None else [asdict(image) for image in images]


def _image_lines(known_good: KnownGood) -> list[str]:
    images = operate.restored_images(known_good)
    if images is None:
        return ["  (recorded before snapshots: images as the revision names them, digests unknown)"]
    return [f"  {i.container:<12} {i.image}  {'@ ' + i.digest if i.digest else '(no digest recorded)'}"
            for i in images]  # fmt: skip


def _readiness(state: ServiceState) -> dict[str, Any] | None:
    last = operate.readiness(state)
    if last is None:
        return None
    record = last.record
    return {
        "known_good": record.known_good,
        "current_known_good": last.current,
        "verdict": record.verdict,
        "checked_at": record.checked_at.isoformat(),
        "findings": [asdict(finding) for finding in record.findings],
    }


def _readiness_lines(state: ServiceState) -> list[str]:
    last = operate.readiness(state)
    if last is None:
        return [f"readiness      {'not checked yet' if state.known_good else 'no known-good to check'}"]
    record = last.record
    of = "" if last.current else f" (of {revision_label(record.known_good)}, before the known-good changed)"
    return [
        f"readiness      {record.headline()}  (checked {record.checked_at.isoformat()}{of})",
        *(f"  {line}" for line in record.lines()),
    ]


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


def _rollback(args: argparse.Namespace, out: TextIO) -> int:
    """A person's rollback: the plan, a confirmation, then the rollback's own lock and restore plan."""
    if args.dry_run:
        return _rollback_dry_run(args, out)
    runtime, guarded = _connect(args)
    planned = operate.plan_rollback(runtime, guarded, args.reason)
    shown = planned.explained
    plan_lines = [
        f"rollback of {guarded.key}",
        f"  from  {revision_label(shown.current)}  ({shown.current})",
        f"  to    {revision_label(shown.target)}  ({shown.target or 'none'})",
        *(f"        {image.line()}" for image in planned.images or ()),
        f"  {shown.reason}",
    ]
    if not planned.acts:
        print(f"canary-rollback: not rolled back ({shown.action}): {shown.reason}", file=sys.stderr)
        _emit(args, out, _decision_data(shown, planned), plan_lines)
        return EXIT_BAD_NEWS
    if not args.json:
        print("\n".join(plan_lines), file=out)
    if not args.yes and not _confirmed(args, out, f"Roll {guarded.key} back to {revision_label(shown.target)}?"):
        print("canary-rollback: not rolled back: not confirmed (pass --yes to skip the question)", file=sys.stderr)
        return EXIT_USAGE
    outcome = operate.rollback(runtime, guarded, args.reason, planned)
    done = outcome.decision
    lines = [f"{done.action}: {revision_label(done.current)} -> {revision_label(done.target)}", f"  {done.reason}"]
    _emit(args, out, _decision_data(done, planned), lines)
    return EXIT_OK if done.action == "rolled_back" else EXIT_BAD_NEWS


def _decision_data(decision: Decision, planned: operate.OperatorPlan) -> dict[str, Any]:
    images = [image.as_json() for image in planned.images] if planned.images is not None else None
    return {"action": decision.action, "reason": decision.reason, "current": decision.current,
            "target": decision.target, "images": images}  # fmt: skip


def _confirmed(args: argparse.Namespace, out: TextIO, question: str) -> bool:
    print(f"{question} [y/N] ", end="", file=out, flush=True)
    answer = args.answers.readline()
    return answer.strip().lower() in ("y", "yes")


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
