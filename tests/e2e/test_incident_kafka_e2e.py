"""`run_access --access-type incident` with `ALARM_ACCESS_INCIDENT_SOURCE=kafka`: the sync messages come from a
topic of the session's Kafka-compatible broker instead of RabbitMQ, with the same store and rules.

The stored rows are compared with the pure rules' state over the same messages (helpers of the RabbitMQ e2e
test); a sentinel create produced after a batch tells when the batch is done (one partition: in order).
`INCIDENT_KAFKA_KILL_TRIALS` (default 2) sizes the kill -9 test.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.access.incident.messages import T0, body, story
from tests.e2e.test_incident_e2e import (
    SENTINEL,
    clear,
    db_state,
    expected_state,
    has_incident,
    operation_rows,
    sentinel,
    stream,
    wait_for,
)
from tests.services.access_env import AccessEnv, access_env, stop
from tests.services.kafka import create_topics, kafka, produce, read_topic

pytestmark = pytest.mark.integration
#: kill -9 trials (each waits ~25 s for the killed member's session to expire before the restart is assigned)
TRIALS = int(os.environ.get("INCIDENT_KAFKA_KILL_TRIALS", "2"))
__all__ = ["kafka"]  # the session fixture, imported for pytest


class World:
    def __init__(self, env: AccessEnv, bootstrap: str, topic: str, dlq: str) -> None:
        self.env, self.bootstrap, self.topic, self.dlq = env, bootstrap, topic, dlq

    def produce(self, bodies: list[bytes]) -> None:
        produce(self.bootstrap, self.topic, bodies)

    def start(self, log: str = "process.log") -> subprocess.Popen[str]:
        process = self.env.spawn("run_access", "--access-type", "incident", log=log)
        self.env.wait_for_log("kafka consumer assigned partitions", name=log)
        return process


@pytest.fixture
def world(tmp_path: Path, redis_url: str, kafka: str) -> Iterator[World]:
    tag = uuid.uuid4().hex[:8]
    topic, dlq = f"incidents-{tag}", f"incidents-dlq-{tag}"
    create_topics(kafka, [topic, dlq])
    with access_env(tmp_path, redis_url, KAFKA_BOOTSTRAP_SERVERS=kafka, ALARM_ACCESS_INCIDENT_SOURCE="kafka",
                    ALARM_ACCESS_INCIDENT_KAFKA_TOPIC=topic, ALARM_ACCESS_INCIDENT_KAFKA_DLQ_TOPIC=dlq,
                    KAFKA_GROUP_PREFIX=f"g{tag}", ALARM_ACCESS_INCIDENT_RETRY_BACKOFF="0.2",
                    ALARM_ACCESS_DRAIN_TIMEOUT="10") as env:
        yield World(env, kafka, topic, dlq)


def test_story_replayed_and_poison_messages_end_in_the_rules_state_with_the_poison_dead_lettered(
        world: World) -> None:
    env = world.env
    messages = story()
    process = world.start()
    try:
        world.produce([b"{not json", *(body(m) for m in messages), body({"sync_type": "delete", "incident_id": 1}),
                       sentinel(1)])
        wait_for(lambda: has_incident(env, SENTINEL), "the story", log=env.log)
        assert db_state(env) == expected_state(messages)
        world.produce([*(body(m) for m in messages), sentinel(2)])  # the whole stream again
        wait_for(lambda: has_incident(env, SENTINEL, T0 + 10_000 + 2), "the replay", log=env.log)
        assert db_state(env) == expected_state(messages)
    finally:
        assert stop(process) == 0
    letters = read_topic(world.bootstrap, world.dlq, 2)
    assert sorted(letter.headers["x-error-reason"].decode() for letter in letters) == ["not_json",
                                                                                       "unknown_sync_type"]
    assert letters[0].headers["x-original-offset"] == b"0"


def kill_trial(world: World, messages: list[dict[str, Any]], trial: int, threshold: int) -> None:
    """Produce the stream, kill -9 the consumer once `threshold` operation rows are stored, restart it, wait
    until the whole stream (and a sentinel after it) is stored."""
    env, first_log, second_log = world.env, f"first-{trial}.log", f"second-{trial}.log"
    first = world.start(log=first_log)
    world.produce([body(m) for m in messages])
    wait_for(lambda: operation_rows(env) >= threshold, "progress", log=lambda: env.log(first_log))
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    second = world.start(log=second_log)
    try:
        world.produce([sentinel(100 + trial)])
        wait_for(lambda: has_incident(env, SENTINEL, T0 + 10_000 + 100 + trial), "the stream after the kill",
                 timeout=180, log=lambda: env.log(second_log))
    finally:
        assert stop(second) == 0


def test_kill_9_mid_stream_ends_in_the_clean_state_without_duplicate_rows(world: World) -> None:
    messages = stream(150, seed=7)
    expected = expected_state(messages)
    rng = random.Random(3)
    for trial in range(TRIALS):
        clear(world.env)
        threshold = rng.randint(1, len(expected["operations"]) - 1)  # kill once this many rows are stored
        kill_trial(world, messages, trial, threshold)
        state = db_state(world.env)
        assert state == expected, f"trial {trial} (killed after {threshold} operation rows)"
        assert len(state["operations"]) == len({row[0] for row in state["operations"]})
