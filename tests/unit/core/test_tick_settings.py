"""The reconcile tick's configuration: the rollback alarms' names, read once; a tick without them fails loudly."""

from __future__ import annotations

import pytest

from canary_rollback.core.config import load_settings, require_tick_settings
from canary_rollback.core.errors import ConfigError


def test_rollback_alarms_are_a_comma_separated_list() -> None:
    settings = load_settings({"ROLLBACK_ALARMS": "stack-RollbackAlarm, stack-FastRollbackAlarm,"}, need_probes=False)
    assert require_tick_settings(settings) == ("stack-RollbackAlarm", "stack-FastRollbackAlarm")


def test_a_tick_without_alarm_names_is_a_configuration_error_not_a_quiet_tick() -> None:
    with pytest.raises(ConfigError, match="ROLLBACK_ALARMS"):
        require_tick_settings(load_settings({}, need_probes=False))
