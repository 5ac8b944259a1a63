"""Reliability of `run_access --access-type event`: disk-full events of the e2e world (`test_event_e2e`) fed to
its base topic while the consumer is broken; each event's anomaly (one per disk) must reach detect's queue
exactly once, each malformed message the dead-letter topic exactly once (by its offset)."""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter

import pytest
from confluent_kafka import Message

from tests.e2e.test_event_e2e import EventWorld, disk_full, malformed, world
from tests.reliability.driver import run_scenario
from tests.reliability.faults import Faults
from tests.reliability.feed import BAD, FedPipeline
from tests.reliability.harness import SCENARIOS
from tests.reliability.streams import spawn_consumer, topic_counts
from tests.services.kafka import produce
from tests.services.redis_server import RedisServer
from tests.services.tcp_proxy import OutageProxy

pytestmark = pytest.mark.integration
__all__ = ["world"]  # the e2e world, on this suite's private Redis and proxied broker

PER_TRIAL = 1500


class EventPipeline(FedPipeline):
    access_type = "event"

    def __init__(self, world: EventWorld) -> None:
        super().__init__()
        self.world = world
        self.key = world.key("detect.anomaly.list.23.23")
        self.offset = 0  # of the next message on the (single-partition) base topic

    def begin_trial(self, trial: int, malformed_1pct: bool) -> None:
        at = time.time() - 5
        items: list[tuple[str, bytes]] = []
        for index in range(trial * PER_TRIAL, (trial + 1) * PER_TRIAL):
            bad = malformed(index, at) if malformed_1pct else None
            items.append((f"{BAD}{self.offset}", bad) if bad is not None else
                         (f"disk:/mnt/d{index}", disk_full(index, at)))
            self.offset += 1
        self.feed_trial(items, lambda values: produce(self.world.bootstrap, self.world.topics["base"], values))

    def start(self, log: str) -> subprocess.Popen[str]:
        process = spawn_consumer(self.world.env, "event", log)
        self.start_feed()
        return process

    def delivered(self) -> Counter[str]:
        lines = self.world.redis.lrange(self.key, 0, -1)
        return Counter(f"disk:{json.loads(line)['data']['dimensions']['disk']}" for line in lines)

    def dead_lettered(self) -> Counter[str]:
        return topic_counts(self.world.bootstrap, self.world.dlq, _original_offset)


def _original_offset(letter: Message) -> str:
    offset = dict(letter.headers() or [])["x-original-offset"]
    return f"{BAD}{int(offset.decode() if isinstance(offset, bytes) else str(offset))}"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_event(scenario: str, world: EventWorld, private_redis: RedisServer, kafka_broker: OutageProxy) -> None:
    run_scenario(EventPipeline(world), Faults(private_redis, kafka_broker), scenario)
