"""`run_access --access-type incident` while its PostgreSQL is stopped mid-stream (issue 14: "PostgreSQL stopped
for 20 s mid-stream: nothing acked meanwhile, everything applied after it is back").

The database is a PRIVATE PostgreSQL cluster (`tests/services/postgres_server.py`), never the machine's shared
one; the broker is a private vhost on the machine's RabbitMQ; the consumer is a real subprocess.

1. the first half of a stream is published; once some of it is applied, the cluster is stopped
   (`pg_ctl stop -m fast`: connections are refused from then on) and the second half is published;
2. once the consumer says it holds a message for a retry, the queue's ready count is taken — live, from a
   passive declare — and it must stay exactly that at every sample (about one a second) for the rest of the outage:
   the consumer's prefetch window is full, so an ack would let the broker hand it the next message (ready - 1)
   and a dropped connection would requeue its window (ready + n). `rabbitmqctl list_queues` (statistics, which
   lag up to 5 s for a quorum queue) must show `messages_ready + messages_unacknowledged` constant and at least
   the second half once it has caught up. Nothing is acked while the database is down, nothing dead-lettered;
3. the cluster is started again (same data, same port); every message is applied, nothing is left in the queue
   once the consumer stopped, and the stored rows equal those of the pure rules (`IncidentBook`) over the same
   stream, with no duplicate operation rows and an empty dead-letter queue.

`INCIDENT_DB_OUTAGE_SECONDS` (default 20, the issue's figure) sets the outage; `INCIDENT_OUTAGE_STREAM_SIZE`
(default 300) the stream. About 35 s in all with the default outage.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import amqp
import psycopg
import pytest

from alarm_access.kernel.settings import IncidentSettings
from tests.access.incident.messages import T0, body
from tests.e2e.test_incident_e2e import (
    QUEUE,
    SENTINEL,
    _amqp,
    db_state,
    dead_letters,
    expected_state,
    has_incident,
    publish,
    sentinel,
    start,
    stream,
    wait_for,
)
from tests.services.access_env import AccessEnv, stop
from tests.services.postgres_server import PostgresServer, private_postgres
from tests.services.rabbitmq import private_vhost

pytestmark = pytest.mark.integration

__all__ = ["private_postgres"]  # a fixture, imported for pytest

OUTAGE = float(os.environ.get("INCIDENT_DB_OUTAGE_SECONDS", "20"))
SIZE = int(os.environ.get("INCIDENT_OUTAGE_STREAM_SIZE", "300"))
HELD = "incident store unavailable, message held"
PREFETCH = IncidentSettings().prefetch  # the consumer's (ALARM_ACCESS_INCIDENT_PREFETCH is not set)


@pytest.fixture
def world(tmp_path: Path, redis_url: str, private_postgres: PostgresServer) -> Iterator[tuple[AccessEnv, str]]:
    database_url = private_postgres.create_database("incident_outage")
    with private_vhost() as url:
        env = AccessEnv(tmp_path, database_url, redis_url, {
            "BK_DATA_AIOPS_INCIDENT_BROKER_URL": url, "ALARM_ACCESS_INCIDENT_RETRY_BACKOFF": "0.2",
            "ALARM_ACCESS_INCIDENT_RETRY_BACKOFF_MAX": "1", "ALARM_ACCESS_DRAIN_TIMEOUT": "10"})
        env.manage("migrate", "-v0")
        yield env, url


def ready_count(channel: amqp.Channel, queue: str = QUEUE) -> int:
    """The ready messages of `queue` now (a passive declare: the queue's own count, not the statistics)."""
    return int(channel.queue_declare(queue, passive=True).message_count)


def queue_stats(url: str, queue: str = QUEUE) -> tuple[int, int]:
    """(messages_ready, messages_unacknowledged) of `queue` in the vhost of `url` from `rabbitmqctl list_queues`:
    the broker's statistics, which for a quorum queue lag up to its statistics interval (5 s)."""
    vhost = url.rsplit("/", 1)[1]
    done = subprocess.run(["rabbitmqctl", "-q", "list_queues", "-p", vhost, "--no-table-headers", "name",
                           "messages_ready", "messages_unacknowledged"],
                          capture_output=True, text=True, timeout=60, check=True)
    for line in done.stdout.splitlines():
        fields = line.split("\t")
        if len(fields) == 3 and fields[0] == queue:
            return int(fields[1]), int(fields[2])
    raise AssertionError(f"queue {queue!r} not in vhost {vhost!r}: {done.stdout!r}")


def incident_rows(env: AccessEnv) -> int:
    with psycopg.connect(env.env["DATABASE_URL"], connect_timeout=5) as conn:
        row = conn.execute("SELECT count(*) FROM alarm_access_incident").fetchone()
    return int(row[0]) if row else 0


def refused(env: AccessEnv) -> bool:
    try:
        psycopg.connect(env.env["DATABASE_URL"], connect_timeout=2).close()
    except psycopg.OperationalError:
        return True
    return False


@contextmanager
def broker_channel(url: str) -> Iterator[amqp.Channel]:
    connection = _amqp(url)
    try:
        yield connection.channel()
    finally:
        connection.close()


def watch_outage(env: AccessEnv, url: str, process: subprocess.Popen[str], until: float) -> tuple[list[int], int]:
    """Sample the queue until `until` (monotonic): the live ready count must never move, and the statistics'
    ready + unacked, once they show that ready count, neither. The ready samples and that ready + unacked."""
    with broker_channel(url) as channel:
        ready = ready_count(channel)
        samples, pending = [ready], None
        while time.monotonic() < until:
            samples.append(ready_count(channel))
            assert samples[-1] == ready, (
                f"the ready count moved while the database was down: {samples}\n{env.log()[-3000:]}")
            assert process.poll() is None, f"the consumer exited during the outage:\n{env.log()[-3000:]}"
            stats = queue_stats(url)  # lags up to ~5 s (the broker's statistics interval)
            if stats[0] == ready:  # caught up with the state after the stop
                pending = sum(stats) if pending is None else pending
                assert stats[1] >= 1 and sum(stats) == pending, (
                    f"ready + unacked moved while the database was down: {stats}, was {pending}")
            time.sleep(min(0.2, max(0.0, until - time.monotonic())))
        samples.append(ready_count(channel))
        assert samples[-1] == ready, samples
    assert pending is not None, f"the broker's statistics never showed the state after the stop: {samples}"
    return samples, pending


def test_postgres_stopped_mid_stream_nothing_acked_meanwhile_everything_applied_after(
        world: tuple[AccessEnv, str], private_postgres: PostgresServer) -> None:
    env, url = world
    messages = stream(SIZE, seed=7)
    expected = expected_state(messages)
    half = len(messages) // 2
    after_stop = len(messages) - half + 1  # the second half and the sentinel
    process = start(env)  # declares the queue
    try:
        publish(url, [body(m) for m in messages[:half]])
        wait_for(lambda: incident_rows(env) >= 5, "the first incidents", log=env.log)

        private_postgres.stop("fast")
        stopped = time.monotonic()
        assert refused(env), "the private PostgreSQL still accepts connections after pg_ctl stop"
        publish(url, [body(m) for m in messages[half:]] + [sentinel(1)])
        env.wait_for_log(HELD, timeout=30)
        samples, pending = watch_outage(env, url, process, until=stopped + OUTAGE)
        # published after the stop, none of these can have been applied; at most a prefetch window is unacked
        assert samples[0] >= after_stop - PREFETCH, samples
        assert pending >= after_stop, pending
        assert len(samples) >= 10, f"too few samples during the outage: {samples}"
        assert env.log().count(HELD) >= 2, "the held message was not retried during the outage"
        assert refused(env)
        assert not dead_letters(url), "a message was dead-lettered during the outage"

        private_postgres.start()
        wait_for(lambda: has_incident(env, SENTINEL, T0 + 10_001), "the stream after the outage",
                 timeout=120, log=env.log)
    finally:
        assert stop(process) == 0
    # the consumer is gone, so anything it had not acked is back in the queue: nothing may be left
    with broker_channel(url) as channel:
        assert ready_count(channel) == 0, "messages left in the queue after the stream was applied"
    state = db_state(env)
    assert state == expected
    assert len(state["operations"]) == len({row[0] for row in state["operations"]})
    assert not dead_letters(url), "a message was dead-lettered"
