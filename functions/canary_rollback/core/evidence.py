"""Evidence an operator can act on (docs/operate.md, "Evidence cards"): what the probes saw fail, what a rollback
deploys down to the image digest, and the structured decision every notification and decision event carries.

One value, `StructuredDecision`, in two renderings: `as_json()` for machines (schema `canary-rollback/decision/1`,
docs/schemas/decision-1.schema.json) and `card_text()` for the person reading it at 3 a.m. Pure: no AWS, no I/O.
The words for each action and each decision-table row are tables (`ACTIONS`, `ROWS`), so a new action or row is
one entry, and an action this version has no words for still renders.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from canary_rollback.core.arns import revision_label
from canary_rollback.core.images import ImageReferenceError, parse_image

if TYPE_CHECKING:  # values only read here; importing them at run time would make models and evidence a cycle
    from canary_rollback.core.models import ProbeResult
    from canary_rollback.core.probe_spec import ProbeSpec

SCHEMA = "canary-rollback/decision/1"
EVENT_SOURCE = "canary-rollback"
EVENT_DETAIL_TYPE = "Rollback Decision"


# ---- what the probes saw fail ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeEvidence:
    """One probe failing in consecutive runs or rounds: kept in the state item (`probe_failures`) by the probe run,
    read by the rollback, so a decision can say what failed, since when and how often."""

    probe: str
    url: str
    expected: str
    got: str
    reason: str
    at: datetime  # the latest failure
    first_failed_at: datetime
    count: int = 1  # consecutive failing runs or rounds, this one included

    def as_json(self) -> dict[str, Any]:
        return {
            "probe": self.probe,
            "url": self.url,
            "expected": self.expected,
            "got": self.got,
            "reason": self.reason,
            "at": iso(self.at),
            "first_failed_at": iso(self.first_failed_at),
            "count": self.count,
        }

    def line(self) -> str:
        since = "" if self.count == 1 else f", failing since {clock(self.first_failed_at)} ({self.count} in a row)"
        return f"{self.probe} {self.url}: expected {self.expected}, got {self.got} ({self.reason}){since}"


def expected_and_got(spec: ProbeSpec, result: ProbeResult) -> tuple[str, str]:
    """What the probe expected and what it got, in the terms of its failure reason."""
    detail = f" ({result.detail})" if result.detail else ""
    status = str(result.status) if result.status is not None else "no status"
    if result.reason == "status":
        return " or ".join(str(code) for code in spec.expect_status), status
    if result.reason == "body":
        return f"a body containing {spec.body_contains!r}", f"{status} without it"
    if result.reason == "latency":
        latency = f"{result.latency_ms:.0f} ms" if result.latency_ms is not None else "a slow answer"
        return f"an answer within {spec.max_latency_ms} ms", latency
    if result.reason == "timeout":
        return f"an answer within {spec.timeout_ms} ms", f"no answer{detail}"
    if result.reason == "connection":
        return "a connection", f"connection failed{detail}"
    if result.reason == "tls":
        return "a trusted TLS connection", f"TLS failed{detail}"
    return "the probe to run", f"it could not run{detail}"  # `error`: ours, never the target's


def advance_failures(
    previous: Sequence[ProbeEvidence],
    specs: Sequence[ProbeSpec],
    results: Sequence[ProbeResult],
    at: datetime,
    url_of: Mapping[str, str] | None = None,
) -> tuple[ProbeEvidence, ...]:
    """The failures after one run: a failing probe extends its streak (first failure kept), a passing or removed
    probe drops out. `url_of` overrides the URL probed (the gate's test listener)."""
    before = {item.probe: item for item in previous}
    by_name = {spec.name: spec for spec in specs}
    failing: list[ProbeEvidence] = []
    for result in results:
        spec = by_name.get(result.name)
        if result.ok or spec is None:
            continue
        expected, got = expected_and_got(spec, result)
        url = (url_of or {}).get(spec.name, spec.url)
        earlier = before.get(result.name)
        first, count = (earlier.first_failed_at, earlier.count + 1) if earlier is not None else (at, 1)
        failing.append(ProbeEvidence(spec.name, url, expected, got, result.reason or "error", at, first, count))
    return tuple(failing)


# ---- what a rollback deploys ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TargetImage:
    container: str
    image: str  # the reference ECS deploys
    digest: str | None  # the digest it is pinned to; None: a tag, resolved again by every deployment
    named_as: str | None = None  # the reference the known-good names, when the rollback pinned it

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"container": self.container, "image": self.image, "digest": self.digest}
        if self.named_as is not None:
            data["named_as"] = self.named_as
        return data

    def line(self) -> str:
        if self.digest is None:
            return f"{self.container}: {self.image} NOT pinned (ECS resolves the tag again)"
        named = f"{self.named_as} " if self.named_as and self.named_as != self.image else ""
        return f"{self.container}: {named}pinned to {self.digest}"


def deployed_images(definition: Mapping[str, Any], named: Mapping[str, Any] | None = None) -> tuple[TargetImage, ...]:
    """Each container of a task definition (RegisterTaskDefinition shape) with the digest its image reference pins.
    `named`: the known-good's own definition, when `definition` is its pinned copy."""
    originals = {str(c.get("name")): str(c.get("image")) for c in (named or {}).get("containerDefinitions", [])}
    images = []
    for container in definition.get("containerDefinitions", []):
        name, image = str(container.get("name", "")), str(container.get("image", ""))
        try:
            digest = parse_image(image).digest
        except ImageReferenceError:
            digest = None
        original = originals.get(name)
        images.append(TargetImage(name, image, digest, original if original not in (None, image) else None))
    return tuple(images)


# ---- who runs the next command ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommandTarget:
    """How a person names this service on the command line: `--stack NAME` (the short form), or the three options."""

    cluster: str
    service: str
    table: str | None = None
    stack: str | None = None

    def options(self) -> str:
        if self.stack:
            return f"--stack {self.stack}"
        table = self.table or "STATE_TABLE"
        return f"--cluster {self.cluster} --service {self.service} --table {table}"

    def command(self, verb: str, *arguments: str) -> str:
        return " ".join(("canary-rollback", verb, *arguments, self.options()))


# ---- the structured decision --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlarmRef:
    name: str
    state_changed_at: str | None


@dataclass(frozen=True)
class StructuredDecision:
    """One decision (a rollback's answer, a recovery verdict, a failed gate, an operator's rollback), as evidence."""

    action: str
    cluster: str
    service: str
    reason: str
    decided_at: datetime
    alarm: AlarmRef | None = None
    current: str | None = None
    target: str | None = None
    images: tuple[TargetImage, ...] | None = None  # None: unknown (no snapshot), or no target
    evidence: tuple[ProbeEvidence, ...] = ()
    next_steps: tuple[str, ...] = ()
    row: str | None = None  # the decision-table row (docs/design.md), by name
    origin: str = "rollback"  # rollback | operator | probe | watch | gate
    facts: tuple[tuple[str, str], ...] = ()  # further labelled facts: operator, stage, recovery time...
    dry_run: bool = False
    extra_lines: tuple[str, ...] = field(default=(), compare=False)  # card-only notes (the readiness check...)
    headline: str | None = None  # instead of the action's own (a stopped gated deployment)

    def as_json(self) -> dict[str, Any]:
        target = None
        if self.target is not None:
            images = [image.as_json() for image in self.images] if self.images is not None else None
            target = {"arn": self.target, "label": revision_label(self.target), "images": images}
        return {
            "schema": SCHEMA,
            "action": self.action,
            "meaning": action_words(self.action).meaning,
            "cluster": self.cluster,
            "service": self.service,
            "alarm": (
                {"name": self.alarm.name, "state_changed_at": self.alarm.state_changed_at}
                if self.alarm is not None
                else None
            ),
            "current": {"arn": self.current, "label": revision_label(self.current) if self.current else None},
            "target": target,
            "evidence": [item.as_json() for item in self.evidence],
            "reason": self.reason,
            "row": self.row,
            "why": row_words(self.row),
            "next_steps": list(self.next_steps),
            "decided_at": iso(self.decided_at),
            "origin": self.origin,
            "dry_run": self.dry_run,
            "facts": dict(self.facts),
        }

    def subject(self) -> str:
        label = revision_label(self.target) if self.target else "none"
        headline = self.headline or action_words(self.action).headline.format(
            target=label, current=revision_label(self.current)
        )
        return subject_line(f"[canary-rollback] {self.service}: {headline}")

    def card_text(self) -> str:
        words = action_words(self.action)
        lines = [
            self.subject().removeprefix("[canary-rollback] "),
            "",
            f"What this means:  {words.meaning}",
            f"Service:          {self.cluster}/{self.service}",
        ]
        if self.alarm is not None:
            changed = self.alarm.state_changed_at or "unknown"
            lines.append(f"Alarm:            {self.alarm.name}, in ALARM since {changed}")
        lines += [f"{label + ':':<18}{value}" for label, value in self.facts]
        lines.append(f"Revision now:     {_arn_line(self.current)}")
        if self.target is not None:
            lines.append(f"Target:           {_arn_line(self.target)}")
            if self.images is None:
                lines.append("  images unknown (recorded before snapshots): deployed as the revision names them")
            lines += [f"  {image.line()}" for image in self.images or ()]
        lines += ["", "Evidence:"]
        lines += [f"  {item.line()}" for item in self.evidence] or ["  no failing probe on record"]
        lines += list(self.extra_lines)
        lines += ["", f"Why:  {self.reason}"]
        if self.row is not None:
            lines.append(f"      decision table row '{self.row}' (docs/design.md): {row_words(self.row)}")
        lines += ["", "What happens next:"]
        lines += [f"  {step}" for step in self.next_steps] or ["  nothing: no action is needed"]
        lines += ["", f"Decided at {iso(self.decided_at)} by {self.origin}{' (DRY_RUN)' if self.dry_run else ''}."]
        return "\n".join(lines)


# ---- the words -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionWords:
    headline: str  # `{target}` and `{current}` are revision labels
    meaning: str


ACTIONS: dict[str, ActionWords] = {
    "rolled_back": ActionWords(
        "rolled back to {target}", "ECS was told to run the last revision seen healthy; this tool acted."
    ),
    "dry_run": ActionWords(
        "would roll back to {target} (dry run)", "DRY_RUN is on: the tool decided and changed nothing."
    ),
    "no_known_good": ActionWords(
        "ALARM but no known-good revision: not rolled back",
        "No revision has passed the probes on a steady service yet; the tool never guesses one.",
    ),
    "already_known_good": ActionWords(
        "ALARM on the known-good itself: not a deployment fault",
        "The service already runs the revision last seen healthy; rolling back cannot help.",
    ),
    "cooldown": ActionWords(
        "ALARM during rollback cooldown: not rolled back",
        "A rollback happened recently; a second one in a row needs a person.",
    ),
    "in_progress": ActionWords(
        "ALARM during an ECS deployment: decided again when it ends",
        "Something is already moving the service (ECS, or a rollback under way); nothing was added.",
    ),
    "ignored": ActionWords("alarm event ignored", "Not an alarm entering ALARM: nothing to decide."),
    "stale": ActionWords(
        "ALARM event is stale: not acted on",
        "The alarm changed state too long ago, or is no longer in ALARM: the tool does not act on old news.",
    ),
    "paused": ActionWords(
        "ALARM while automatic rollback is paused: not rolled back",
        "An operator paused automatic rollback; alarms are reported, never acted on.",
    ),
    "quiet": ActionWords("no rollback alarm in ALARM", "Nothing is firing; nothing to decide."),
    "superseded": ActionWords(
        "ALARM older than the current deployment: not acted on yet",
        "The alarm fired before the revision now running was deployed: it is not evidence against it.",
    ),
    "reverted": ActionWords(
        "rollback to {target} REVERTED by ECS",
        "ECS did not finish the rollback (its deployment failed, or the service went back): it is not restored.",
    ),
    "not_restorable": ActionWords(
        "ALARM but {target} cannot be restored",
        "The rollback to the known-good failed twice; the tool will not try it again until a person acts.",
    ),
    "recovered": ActionWords(
        "recovered on {target}", "After the rollback every probe passes on the steady known-good."
    ),
    "not_recovered": ActionWords(
        "rollback to {target} did NOT recover",
        "The service is steady on the known-good but probes still fail: the fault is not the deployment's.",
    ),
    "not_ready": ActionWords(
        "rollback NOT READY ({target})",
        "The readiness check found that the known-good could not be restored now; nothing else changed.",
    ),
    "ready": ActionWords("rollback ready again ({target})", "The known-good can be restored again."),
    "gate_paused": ActionWords(
        "gate PAUSED on {current}",
        "Automatic rollback is paused: the gate let the deployment through and says what it would have answered.",
    ),
    "gate_failed": ActionWords(
        "deployment gate FAILED on {current}",
        "The pre-traffic gate failed the new revision; ECS rolls the deployment back by itself.",
    ),
}

ROWS: dict[str, str] = {
    "not an alarm": "not a CloudWatch alarm state change into ALARM: nothing to act on",
    "replay": "this alarm state change was already answered with a rollback; the same answer again, no ECS call",
    "finish": "an earlier attempt's UpdateService had already reached ECS; only its bookkeeping was finished",
    "stale": "the alarm changed state too long ago, or CloudWatch says it is no longer in ALARM",
    "paused": "an operator paused automatic rollback",
    "no service": "the guarded service could not be described",
    "no known-good": "no revision has been seen healthy yet; a revision is never guessed",
    "resume": "this alarm's own earlier attempt died before it finished; resumed under the same lock",
    "gated deployment": "ECS is running a blue/green, linear or canary deployment: its hooks judge it and ECS rolls "
    "it back by itself",
    "lock held": "another alarm's rollback holds the lock and its lease is live",
    "rolled here": "the service runs the known-good because this stack just rolled it there; waiting for the verdict",
    "already known-good": "the service runs its known-good and is steady: the fault is not a deployment's",
    "deploying known-good": "the service is already deploying its known-good",
    "cooldown": "a rollback reached ECS less than ROLLBACK_COOLDOWN_SECONDS ago",
    "dry run": "DRY_RUN is on: decide and report, never call ECS",
    "roll back": "the alarm fires on a revision that is not the known-good: roll back to the last revision seen "
    "healthy",
    "reverted": "ECS did not keep this stack's last rollback (its deployment failed, or the service went back)",
    "superseded": "the alarm changed state before the current deployment started, and no probe has failed on the "
    "revision since: it is not evidence against that revision; decided again while the alarm stays in ALARM",
    "not restorable": "ECS reverted the last tries at the known-good: no automatic try until a person acts",
    "operator": "a person ran `canary-rollback rollback`: it acts while paused and in dry run, under the same lock",
}

_UNKNOWN = ActionWords("{target}", "An answer this version of the card has no words for; see the reason.")


def action_words(action: str) -> ActionWords:
    known = ACTIONS.get(action)
    if known is not None:
        return known
    return ActionWords(f"{action.replace('_', ' ')} (target {{target}})", _UNKNOWN.meaning)


def row_words(row: str | None) -> str | None:
    if row is None:
        return None
    return ROWS.get(row, row)


# ---- small shared helpers ----------------------------------------------------------------------------------------

_SUBJECT_LIMIT = 100  # SNS rejects longer subjects


def subject_line(text: str) -> str:
    """SNS subjects: at most 100 ASCII characters, one line."""
    flat = " ".join(text.split()).encode("ascii", "replace").decode("ascii")
    return flat if len(flat) <= _SUBJECT_LIMIT else flat[: _SUBJECT_LIMIT - 3] + "..."


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def clock(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%H:%M:%SZ")


def _arn_line(arn: str | None) -> str:
    return "unknown" if arn is None else f"{revision_label(arn)}  ({arn})"


def labelled(facts: Iterable[tuple[str, object]]) -> tuple[tuple[str, str], ...]:
    """Facts with a value, as text (None dropped)."""
    return tuple((label, str(value)) for label, value in facts if value is not None)
