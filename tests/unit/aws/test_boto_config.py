"""botocore's standard retries, with botocore's own AWS_MAX_ATTEMPTS still honoured."""

from __future__ import annotations

import pytest

from canary_rollback.aws.clients import DEFAULT_MAX_ATTEMPTS, boto_config


@pytest.mark.parametrize(("value", "attempts"), [(None, DEFAULT_MAX_ATTEMPTS), ("2", 2), ("0", 5), ("many", 5)])
def test_retry_budget(monkeypatch: pytest.MonkeyPatch, value: str | None, attempts: int) -> None:
    if value is None:
        monkeypatch.delenv("AWS_MAX_ATTEMPTS", raising=False)
    else:
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", value)
    config = boto_config()
    assert config.retries == {"mode": "standard", "max_attempts": attempts}
    assert (config.connect_timeout, config.read_timeout) == (5, 15)
