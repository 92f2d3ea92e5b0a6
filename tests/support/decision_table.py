"""The rows of the rollback decision table (docs/design.md, "Decision table"), in decide_rollback's order: the
first that matches decides. Decision cases are named after them, `row 16: cooldown: <the case>`, so code, docs
and test ids share one numbering; tests/unit/rollback/test_decision.py holds this list to the docs' table."""

from __future__ import annotations

ROWS = {
    1: "not an alarm",
    2: "reverted",
    3: "replay",
    4: "finish",
    5: "stale",
    6: "paused",
    7: "no service",
    8: "no known-good",
    9: "resume",
    10: "gated deployment",
    11: "lock held",
    12: "rolled here",
    13: "superseded",
    14: "already known-good",
    15: "deploying known-good",
    16: "cooldown",
    17: "not restorable",
    18: "dry run",
    19: "roll back",
}


def case_id(row: int, case: str) -> str:
    """The test id of a decision case decided by `row`: `row N: <row name>: <the case>`."""
    return f"row {row}: {ROWS[row]}: {case}"
