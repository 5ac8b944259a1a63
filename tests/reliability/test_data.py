"""Reliability of `run_access --access-type data`: the e2e world (`data_world`: three strategies, samples in a
real VictoriaMetrics) pulled by the long-running service while it is broken. Each trial runs under a fresh key
prefix, so the service starts cold (no checkpoint, no dedupe state) and pulls the whole backlog at once; each
range query is answered `QUERY_DELAY` s late (`AnsweringProxy`), so the fault lands inside that pull. Every
expected record id must be in detect's queues exactly once.

`data` has no message broker with `-H process` and no input to dead-letter: those scenarios are skipped.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.e2e.test_data_access_e2e import aligned_now, load_world
from tests.reliability.driver import run_scenario, skip_scenario
from tests.reliability.faults import Faults
from tests.reliability.harness import SCENARIOS
from tests.services.access_env import AccessEnv, access_env
from tests.services.data_world import INTERVAL, expected_records, ingest, queued_records, samples_at
from tests.services.redis_server import RedisServer
from tests.services.tsdb_proxy import AnsweringProxy
from tests.services.victoria import VictoriaMetrics

pytestmark = pytest.mark.integration

QUERY_DELAY = 0.8

SKIPPED = {
    "broker_restarted": "data (-H process) pulls a TSDB and writes Redis: it has no message broker",
    "malformed_1pct": "data pulls typed series from the TSDB: there is no message to dead-letter "
                      "(a stored strategy that no longer parses is skipped and named: load_strategies)",
}


class DataPipeline:
    access_type = "data"
    #: every range query is answered `QUERY_DELAY` s late: a fault within `window` of the first lands mid-pull
    window = 0.6

    def __init__(self, env: AccessEnv, proxy: AnsweringProxy, vm: VictoriaMetrics, private_redis: RedisServer) -> None:
        self.env, self.proxy, self.redis = env, proxy, private_redis
        t = aligned_now()
        samples = samples_at([t - k * INTERVAL for k in range(3, 9)])
        ingest(vm, samples)
        #: "queue:record id" (the three strategies' records share record ids: same hosts, same buckets)
        self.expected_ids = {f"{queue}:{rid}" for queue, ids in expected_records(samples).items() for rid in ids}
        self.prefixes: list[str] = []

    def begin_trial(self, trial: int, malformed: bool) -> None:
        prefix = f"{self.env.prefix}.t{trial}-{uuid.uuid4().hex[:6]}"
        self.prefixes.append(prefix)
        self.env.env["ALARM_ACCESS_KEY_PREFIX"] = prefix
        self.proxy.queried.clear()

    def start(self, log: str) -> subprocess.Popen[str]:
        """Returns once the service runs (its signal handlers are installed: a SIGTERM is a clean stop)."""
        process = self.env.spawn("run_access", "--access-type", "data", "--min-interval", "0.2", log=log)
        self.env.wait_for_log("strategy groups synced", name=log)
        return process

    def busy(self) -> bool:
        """The trial's cold pull has sent its first query (its answer is `QUERY_DELAY` s away)."""
        return self.proxy.queried.is_set()

    def expected(self) -> set[str]:
        return {f"{self.prefixes[-1]}:{rid}" for rid in self.expected_ids}

    def wanted(self) -> set[str]:
        return self.expected()

    def bad(self) -> set[str]:
        return set()

    def finish_feed(self) -> None:
        """The samples were all ingested up front."""

    def delivered(self) -> Counter[str]:
        client = redis.Redis.from_url(self.redis.url, socket_timeout=5)
        try:
            out: Counter[str] = Counter()
            for prefix in self.prefixes:
                for queue, counts in queued_records(client, prefix).items():
                    out.update({f"{prefix}:{queue}:{rid}": n for rid, n in counts.items()})
            return out
        finally:
            client.close()

    def dead_lettered(self) -> Counter[str]:
        return Counter()


@pytest.fixture
def pipeline(tmp_path: Path, vm: VictoriaMetrics, private_redis: RedisServer) -> Iterator[DataPipeline]:
    with AnsweringProxy(vm.url, delay=QUERY_DELAY) as proxy, access_env(
            tmp_path, private_redis.url, TSDB_URL=proxy.url, ALARM_ACCESS_NETWORK_TIMEOUT="1",
            ALARM_ACCESS_DRAIN_TIMEOUT="10") as env:
        load_world(env, tmp_path)
        yield DataPipeline(env, proxy, vm, private_redis)


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s not in SKIPPED])
def test_data(scenario: str, pipeline: DataPipeline, private_redis: RedisServer) -> None:
    run_scenario(pipeline, Faults(private_redis), scenario)


@pytest.mark.parametrize("scenario", list(SKIPPED))
def test_data_not_applicable(scenario: str) -> None:
    skip_scenario("data", scenario, SKIPPED[scenario])


def test_the_world_makes_records() -> None:
    """Two enabled hosts x three strategies per bucket: otherwise every count above would be vacuously zero."""
    bucket = int(time.time()) // INTERVAL * INTERVAL
    assert sum(len(ids) for ids in expected_records(samples_at([bucket])).values()) == 6
