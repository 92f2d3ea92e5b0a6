"""IAM adapter for the readiness check: do the task and execution roles a known-good names still exist?

`iam:GetRole` answers `NoSuchEntity` for a deleted role; ECS would fail to start the restored tasks then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from canary_rollback.aws.clients import error_code
from canary_rollback.core.errors import ReadinessLookupError

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient


class IamGateway:
    def __init__(self, client: IAMClient) -> None:
        self._client = client

    def role_exists(self, role_name: str) -> bool:
        try:
            self._client.get_role(RoleName=role_name)
        except ClientError as exc:
            code = error_code(exc)
            if code == "NoSuchEntity":
                return False
            raise ReadinessLookupError(f"iam:GetRole {role_name} failed: {code}") from exc
        except BotoCoreError as exc:
            raise ReadinessLookupError(f"iam:GetRole {role_name} failed: {exc}") from exc
        return True
