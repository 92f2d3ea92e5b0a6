"""The state table's client gives up on a hanging read fast (docs/design.md, "Answers on time")."""

from __future__ import annotations

from canary_rollback.aws.clients import AwsClients, boto_config


def test_dynamodb_waits_seconds_not_tens_of_seconds_and_other_apis_keep_their_timeouts() -> None:
    dynamodb, ecs = boto_config("dynamodb"), boto_config("ecs")
    assert (dynamodb.connect_timeout, dynamodb.read_timeout) == (2, 3)
    assert (ecs.connect_timeout, ecs.read_timeout) == (5, 15)
    assert dynamodb.retries == ecs.retries  # the same standard retries (AWS_MAX_ATTEMPTS) for both


def test_the_clients_are_built_with_their_services_config() -> None:
    clients = AwsClients()
    assert clients.dynamodb.meta.config.read_timeout == 3
    assert clients.sns.meta.config.read_timeout == 15
