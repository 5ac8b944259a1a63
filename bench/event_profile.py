"""cProfile of the `event` hot path: the pure part, and the push to Redis, on the bench's workload.

    .venv/bin/python -m bench.event_profile [--events 20000] [--top 15] [--redis-url ...]

The messages are `bench.event_pipeline`'s (disk-full events on the 100 hosts of `FLEET`, one anomaly each), in
batches of the service's batch size. `pure`: `process_batch` + `plan_delivery` (empty state); `push`:
`RedisAnomalySink.push` of the same anomalies under a unique key prefix (deleted afterwards). Prints the wall
time per event of each part and the top lines of each profile by own time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import time
import uuid

import redis

from alarm_access.access.event.batch import process_batch
from alarm_access.access.event.delivery import DeliveryState, plan_delivery
from alarm_access.access.event.handle import enabled_kinds
from alarm_access.access.event.routing import Routing, build_routing
from alarm_access.access.event.standardize import Anomaly
from alarm_access.adapters.redis.events import RedisAnomalySink
from alarm_access.formats import parse_strategy_documents, parse_topology_document
from alarm_access.kernel.settings import EventSettings
from alarm_access.kernel.stream import StreamMessage
from alarm_access.records.enrich import index_topology
from bench.event_pipeline import STRATEGY_ID, hosts_document
from tests.e2e.test_event_e2e import KINDS, disk_full, strategy


def routing() -> Routing:
    strategies, _ = parse_strategy_documents([strategy(STRATEGY_ID, KINDS[STRATEGY_ID])])
    topology, _ = parse_topology_document(hosts_document())
    built, _ = build_routing(strategies, index_topology(topology), snapshot_key=lambda s, u: f"snapshot.{s}.{u}",
                             disabled_states=EventSettings().disabled_host_states)
    return built


def top(profile: cProfile.Profile, count: int) -> str:
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(count)
    text = out.getvalue()
    return text[text.index("   ncalls"):].rstrip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--redis-url", default=os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()
    settings = EventSettings()
    kinds, built, size = enabled_kinds(settings), routing(), settings.batch_size
    at = time.time()
    messages = [StreamMessage("bench", 0, i, disk_full(i, at), 1000) for i in range(args.events)]
    batches = [messages[start:start + size] for start in range(0, len(messages), size)]

    batched: list[list[Anomaly]] = []
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    for batch in batches:
        now = int(time.time())
        result = process_batch(batch, built, now, kinds)
        plan_delivery(result.anomalies, DeliveryState(), now, settings.qos_threshold)
        batched.append(result.anomalies)
    profile.disable()
    pure_s = time.perf_counter() - started
    assert sum(map(len, batched)) == args.events

    prefix = f"bench-profile-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(args.redis_url)
    sink = RedisAnomalySink(client, prefix, max_queue_length=10**9)
    push_profile = cProfile.Profile()
    try:
        started = time.perf_counter()
        push_profile.enable()
        for anomalies in batched:
            sink.push(anomalies, {}, int(time.time()))
        push_profile.disable()
        push_s = time.perf_counter() - started
    finally:
        keys = list(client.scan_iter(f"{prefix}.*", count=1000))
        if keys:
            client.delete(*keys)
    print(f"pure: {pure_s / args.events * 1e6:.1f} us/event (profiled)")
    print(top(profile, args.top))
    print(f"\npush: {push_s / args.events * 1e6:.1f} us/anomaly (profiled)")
    print(top(push_profile, args.top))


if __name__ == "__main__":
    main()
