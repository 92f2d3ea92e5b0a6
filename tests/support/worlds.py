"""Worlds the evidence tests share: the incident on moto, optionally with every revision naming one mutable tag."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from demo.world import World
from demo.world.ecs_simulator import ImageRegistry, fake_digest
from demo.world.services import LoopbackAlb

MUTABLE_TAG = "hokusai/api:main"
GOOD_BUILD = fake_digest("hokusai/api main, Monday's build")
BROKEN_BUILD = fake_digest("hokusai/api main, the routing change")


@contextmanager
def mutable_tag_world(parameters: dict[str, str] | None = None) -> Iterator[World]:
    """Every revision names `hokusai/api:main`; tasks report the digest the tag resolved to (as real ECS does)."""
    with LoopbackAlb() as alb:
        world = World.create(alb, parameters, image_for=lambda _revision: MUTABLE_TAG)
        world.simulator.with_tasks(ImageRegistry({MUTABLE_TAG: GOOD_BUILD}))
        world.broken_digests.add(BROKEN_BUILD)
        try:
            yield world
        finally:
            world.close()


def push_the_broken_build_and_deploy_34(world: World) -> None:
    """CI moves the tag to the routing change and deploys :34; it rolls out and the probes fail on it."""
    assert world.simulator.registry is not None
    world.simulator.registry.push(MUTABLE_TAG, BROKEN_BUILD)
    world.deploy(34)
    for _ in range(3):
        world.minute()
        world.advance_rollout()
        world.probe_run()


def structured_messages(world: World) -> list[dict[str, Any]]:
    """What the stack's SQS subscriber received: the `sqs` message of each notification, parsed."""
    import json

    return [json.loads(note["message"]) for note in world.stack.notifications()]
