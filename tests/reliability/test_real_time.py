"""Reliability of `run_access --access-type real_time_data`: disk points of the e2e world (`test_real_time_e2e`),
one mount point each, fed to its disk topic while the consumer is broken; each point's record (the original's
record id) must reach detect's queue exactly once, each malformed message the dead-letter topic exactly once."""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter

import pytest

from tests.e2e.test_real_time_e2e import DISK_DIMS, RealTimeWorld, point, record_id, world
from tests.reliability.driver import run_scenario
from tests.reliability.faults import Faults
from tests.reliability.feed import FedPipeline, poison, poison_id
from tests.reliability.harness import SCENARIOS
from tests.reliability.streams import spawn_consumer, topic_counts
from tests.services.kafka import produce
from tests.services.redis_server import RedisServer
from tests.services.tcp_proxy import OutageProxy

pytestmark = pytest.mark.integration
__all__ = ["world"]  # the e2e world, on this suite's private Redis and proxied broker

PER_TRIAL = 1500


class RealTimePipeline(FedPipeline):
    access_type = "real_time_data"

    def __init__(self, world: RealTimeWorld) -> None:
        super().__init__()
        self.world = world
        self.key = f"{world.env.prefix}.access.data.32.320"

    def begin_trial(self, trial: int, malformed: bool) -> None:
        at = int(time.time()) - 5
        items = []
        for index in range(PER_TRIAL):
            if malformed and index % 100 == 99:
                items.append(poison(trial, index))
                continue
            message = point(at, f"10.0.0.{1 + index % 2}", {"in_use": float(index)}, mount_point=f"/t{trial}/{index}")
            items.append((record_id(message, DISK_DIMS), message))
        self.feed_trial(items, lambda values: produce(self.world.bootstrap, self.world.topics["disk"], values))

    def start(self, log: str) -> subprocess.Popen[str]:
        process = spawn_consumer(self.world.env, "real_time_data", log)
        self.start_feed()
        return process

    def delivered(self) -> Counter[str]:
        return Counter(json.loads(line)["record_id"] for line in self.world.redis.lrange(self.key, 0, -1))

    def dead_lettered(self) -> Counter[str]:
        return topic_counts(self.world.bootstrap, self.world.dlq, lambda letter: poison_id(letter.value()))


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_real_time_data(scenario: str, world: RealTimeWorld, private_redis: RedisServer,
                        kafka_broker: OutageProxy) -> None:
    run_scenario(RealTimePipeline(world), Faults(private_redis, kafka_broker), scenario)
