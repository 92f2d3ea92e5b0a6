"""Fixtures of the rollback's integration tests (helpers are in tests/support/world.py and containers.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.world import break_with_34, make_known_good


@pytest.fixture
def broken(world: Any) -> Any:
    """:31 seen healthy, :32 and :33 failed rollouts, :34 live with the MLflow route broken; an empty inbox."""
    make_known_good(world)
    break_with_34(world)
    world.stack.notifications()
    return world
