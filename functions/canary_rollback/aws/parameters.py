"""Probe config from SSM and probe auth secrets, through powertools Parameters (cached between runs)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_lambda_powertools.utilities.parameters import GetParameterError, SecretsProvider, SSMProvider

from canary_rollback.core.errors import ConfigError, SecretUnavailable
from canary_rollback.core.probe_spec import ProbeSpec, parse_probes_json

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_ssm import SSMClient

CACHE_SECONDS = 300  # a rotated secret or edited probe list is picked up within five minutes


class ParameterSource:
    def __init__(self, ssm: SSMClient, secretsmanager: SecretsManagerClient) -> None:
        self._ssm = SSMProvider(boto3_client=ssm)
        self._secrets = SecretsProvider(boto3_client=secretsmanager)
        self._parsed: dict[str, tuple[ProbeSpec, ...]] = {}

    def probes(self, parameter_name: str) -> tuple[ProbeSpec, ...]:
        source = f"PROBES_PARAMETER {parameter_name}"
        try:
            raw = self._ssm.get(parameter_name, max_age=CACHE_SECONDS, decrypt=True)
        except GetParameterError as exc:
            raise ConfigError(f"{source}: cannot be read ({exc})") from None
        text = str(raw)
        if text not in self._parsed:  # parse once per distinct value, not once per run
            self._parsed = {text: parse_probes_json(text, source)}
        return self._parsed[text]

    def secret(self, reference: str) -> str:
        """`ssm:/name` -> SSM SecureString; anything else -> a Secrets Manager secret id.

        Errors name the reference and AWS's error, never a value.
        """
        try:
            if reference.startswith("ssm:"):
                value = self._ssm.get(reference[4:], max_age=CACHE_SECONDS, decrypt=True)
            else:
                value = self._secrets.get(reference, max_age=CACHE_SECONDS)
        except GetParameterError as exc:
            raise SecretUnavailable(f"auth_secret {reference!r} could not be read: {_short(exc)}") from None
        if isinstance(value, bytes):
            value = value.decode()
        if not isinstance(value, str) or not value:
            raise SecretUnavailable(f"auth_secret {reference!r} is empty or not text")
        return value.strip()


def _short(exc: GetParameterError) -> str:
    text = str(exc)
    return text if len(text) <= 200 else text[:200] + "..."
