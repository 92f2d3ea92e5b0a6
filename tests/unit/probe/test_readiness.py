"""Rollback readiness rules (probe/readiness.py, docs/readiness.md): data in, data out, no AWS."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from canary_rollback.core.images import EcrRepository, ecr_repository, parse_image
from canary_rollback.core.models import KnownGood, TaskDefinitionSnapshot
from canary_rollback.core.readiness import ReadinessFinding, ReadinessRecord
from canary_rollback.probe.readiness import (
    RestoredImage,
    image_finding,
    readiness_due,
    restored_images,
    role_finding,
    role_names,
    should_audit,
    should_notify,
    task_definition_finding,
    verdict,
)
from canary_rollback.probe.readiness_check import READINESS_BUDGET_SECONDS, _gather_within, readiness_budget
from canary_rollback.rollback.restore import plan_rollback_target

T0 = datetime(2026, 11, 26, 18, 30, tzinfo=UTC)
KG = "arn:aws:ecs:us-east-1:123456789012:task-definition/hokusai-api-development:31"
HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
FIPS = "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com"
D1 = "sha256:" + "04336a" * 10 + "abcd"
D2 = "sha256:" + "9f" * 32


def record(verdict: str = "ready", missing: tuple[str, ...] = (), known_good: str = KG) -> ReadinessRecord:
    findings = tuple(ReadinessFinding("image", m, "missing", m) for m in missing)
    return ReadinessRecord(known_good, T0, verdict, findings)  # type: ignore[arg-type]


# ---- when ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("previous", "now", "due"),
    [
        (None, T0, True),  # never checked
        (record(known_good=KG.replace(":31", ":35")), T0 + timedelta(seconds=1), True),  # a new known-good
        (record(), T0 + timedelta(seconds=299), False),  # within the interval
        (record(), T0 + timedelta(seconds=300), True),  # the interval is over
        (record(), T0 - timedelta(seconds=5), True),  # a record from the future (the clock stepped back)
    ],
    ids=["never checked", "promotion", "within the interval", "interval over", "clock stepped back"],
)
def test_readiness_is_due_at_most_once_per_interval_and_at_each_new_known_good(
    previous: ReadinessRecord | None, now: datetime, due: bool
) -> None:
    assert readiness_due(previous, KG, now, 300) is due


def test_budget_is_the_runs_deadline_less_the_margin_never_more_than_the_cap() -> None:
    assert readiness_budget(None, 100.0) == READINESS_BUDGET_SECONDS
    assert readiness_budget(200.0, 100.0) == READINESS_BUDGET_SECONDS
    assert readiness_budget(105.0, 100.0) == pytest.approx(3.0)
    assert readiness_budget(101.0, 100.0) == 0.0


# ---- what a restore deploys: the same images rollback/restore.py would ----------------------------------


def _snapshot(*containers: tuple[str, str], digests: dict[str, str] | None = None) -> TaskDefinitionSnapshot:
    definition: dict[str, Any] = {
        "family": "hokusai-api-development",
        "containerDefinitions": [{"name": name, "image": image} for name, image in containers],
    }
    return TaskDefinitionSnapshot(definition, (), digests or {})


CASES = {
    "tag pinned to the digest its tasks ran": (_snapshot(("api", f"{HOST}/hokusai/api:main"), digests={"api": D1}),),
    "already a digest": (_snapshot(("api", f"{HOST}/hokusai/api@{D1}")),),
    "tag and digest": (_snapshot(("api", f"{HOST}/hokusai/api:main@{D1}"), digests={"api": D2}),),
    "no digest recorded": (_snapshot(("api", f"{HOST}/hokusai/api:main")),),
    "no tag at all": (_snapshot(("api", f"{HOST}/hokusai/api")),),
    "sidecar from docker hub": (
        _snapshot(("api", f"{HOST}/hokusai/api:main"), ("proxy", "nginx:1.27"), digests={"api": D1, "proxy": D2}),
    ),
}


@pytest.mark.parametrize("pin", [True, False], ids=["PIN_IMAGE_DIGESTS=true", "false"])
@pytest.mark.parametrize("active", [True, False], ids=["ACTIVE", "INACTIVE"])
@pytest.mark.parametrize("case", list(CASES))
def test_restored_images_are_exactly_what_the_rollback_plan_deploys(case: str, active: bool, pin: bool) -> None:
    (snapshot,) = CASES[case]
    plan = plan_rollback_target(KnownGood(KG, T0, "seen healthy", snapshot=snapshot), active, pin)
    deployed = (plan.request or snapshot.definition)["containerDefinitions"]

    expected = {}
    for container in deployed:
        reference = parse_image(container["image"])
        expected[container["name"]] = (reference.digest, None if reference.digest else reference.tag or "latest")
    checked = {image.container: (image.digest, image.tag) for image in restored_images(snapshot, pin)}
    assert checked == expected


def test_restored_images_know_which_are_ecr_and_which_cannot_be_looked_up() -> None:
    snapshot = _snapshot(("api", f"{HOST}/hokusai/api:main"), ("proxy", "nginx:1.27"), ("bad", "no spaces allowed"))
    api, proxy, bad = restored_images(snapshot, True)
    assert api.repository == EcrRepository("123456789012", "us-east-1", "hokusai/api")
    assert proxy.repository is None
    assert bad.problem is not None


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (f"{HOST}/hokusai/api:main", EcrRepository("123456789012", "us-east-1", "hokusai/api")),
        (f"{FIPS}/a/b/c@{D1}", EcrRepository("123456789012", "us-gov-west-1", "a/b/c")),
        ("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/api:1", EcrRepository("123456789012", "cn-north-1", "api")),
        ("123456789012.dkr-ecr.eu-west-1.on.aws/api:1", EcrRepository("123456789012", "eu-west-1", "api")),
        ("public.ecr.aws/nginx/nginx:1.27", None),
        ("nginx:1.27", None),
        ("ghcr.io/hokusai/api:main", None),
        ("localhost:5000/hokusai/api:main", None),
        ("12345678901.dkr.ecr.us-east-1.amazonaws.com/api:1", None),  # eleven digits: not an account
    ],
)  # fmt: skip
def test_private_ecr_images_are_recognised_by_their_registry_host(image: str, expected: EcrRepository | None) -> None:
    assert ecr_repository(parse_image(image)) == expected


@pytest.mark.parametrize(
    ("named", "lookup"),
    [
        ("arn:aws:iam::123456789012:role/hokusai-api-execution", "hokusai-api-execution"),
        ("arn:aws:iam::123456789012:role/service-role/with/path/task", "task"),  # GetRole takes the name only
        ("hokusai-api-task", "hokusai-api-task"),  # ECS accepts a bare name
        ("arn:aws:iam::999999999999:role/elsewhere", None),  # another account's: never looked up
    ],
)
def test_role_names_to_look_up(named: str, lookup: str | None) -> None:
    snapshot = TaskDefinitionSnapshot({"taskRoleArn": named, "containerDefinitions": []})
    assert role_names(snapshot, KG) == (("task role", named, lookup),)


# ---- what each answer means ----------------------------------------------------------------------------


def test_a_missing_digest_is_named_exactly() -> None:
    image = RestoredImage(
        "api", f"{HOST}/hokusai/api:main", D1, None, EcrRepository("123456789012", "us-east-1", "hokusai/api")
    )
    finding = image_finding(image, "image_missing", None)
    assert finding.status == "missing"
    assert finding.detail == (
        f"image hokusai/api@{D1} no longer in ECR repository hokusai/api "
        "(container api, account 123456789012, us-east-1)"
    )
    gone = image_finding(image, "repository_missing", None)
    assert gone.detail.startswith("ECR repository hokusai/api no longer exists (image hokusai/api@sha256:")
    assert (
        image_finding(image, None, "ecr:DescribeImages on hokusai/api failed: AccessDeniedException").status == "error"
    )


def test_task_definition_answers() -> None:
    assert task_definition_finding(KG, True, False, None).status == "ok"
    assert task_definition_finding(KG, False, True, None).status == "ok"  # a copy comes from the snapshot
    missing = task_definition_finding(KG, False, False, None)
    assert missing.status == "missing"
    assert "hokusai-api-development:31 is no longer ACTIVE" in missing.detail
    assert task_definition_finding(KG, None, True, "throttled").status == "error"


def test_role_answers() -> None:
    role = "arn:aws:iam::123456789012:role/x"
    assert role_finding("task role", role, False, None).detail == f"task role {role} no longer exists"
    assert role_finding("task role", role, True, None).status == "ok"
    assert role_finding("task role", role, None, "AccessDenied").status == "error"
    assert role_finding("task role", role, None, None).status == "unchecked"


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ((), "ready"),
        (("ok", "ok"), "ready"),
        (("ok", "unchecked"), "ready"),  # another registry: out of reach by design, not a problem
        (("ok", "error"), "unchecked"),  # the check's own error
        (("missing", "error"), "not_ready"),  # what is known missing is missing, whatever else failed
        (("missing", "ok"), "not_ready"),
    ],
)
def test_verdict(statuses: tuple[str, ...], expected: str) -> None:
    findings = [ReadinessFinding("image", "x", s, "x") for s in statuses]  # type: ignore[arg-type]
    assert verdict(findings) == expected


@pytest.mark.parametrize(
    ("previous", "current", "audit", "notify"),
    [
        (None, record("ready"), True, False),  # the first answer is "ready": recorded, nobody's news
        (None, record("not_ready", ("a",)), True, True),
        (None, record("unchecked"), True, False),  # a blind check tells no one (audited, in status)
        (record("ready"), record("ready"), False, False),
        (record("ready"), record("not_ready", ("a",)), True, True),
        (record("not_ready", ("a",)), record("not_ready", ("a",)), False, False),  # told once
        (record("not_ready", ("a",)), record("not_ready", ("a", "b")), True, True),  # something else is missing
        (record("not_ready", ("a",)), record("ready"), True, True),  # ready again
        (record("not_ready", ("a",)), record("unchecked"), True, False),  # the alarm keeps its state
        (record("unchecked"), record("ready"), True, False),
        (record("ready", known_good=KG.replace(":31", ":35")), record("ready"), True, False),  # a new known-good
    ],
)
def test_each_change_is_audited_and_not_ready_is_told(
    previous: ReadinessRecord | None, current: ReadinessRecord, audit: bool, notify: bool
) -> None:
    assert should_audit(previous, current) is audit
    assert should_notify(previous, current) is notify


# ---- bounded -------------------------------------------------------------------------------------------


def test_lookups_still_running_at_the_budget_are_unchecked_and_not_waited_for() -> None:
    release = threading.Event()

    def hangs(add: Any) -> None:
        add(ReadinessFinding("task definition", "x:31", "ok", "x:31 is ACTIVE"))
        release.wait(10)
        add(ReadinessFinding("image", "late", "missing", "too late to count"))

    findings = _gather_within(0.2, hangs)
    release.set()
    assert [f.status for f in findings] == ["ok", "error"]
    assert findings[-1].detail.startswith("the check did not finish within 0.2 s")


def test_a_bug_in_the_check_is_its_own_error() -> None:
    def broken(add: Any) -> None:
        raise KeyError("imageDetails")

    (finding,) = _gather_within(5, broken)
    assert finding.status == "error"
    assert "KeyError" in finding.detail
