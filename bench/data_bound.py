"""A stripped `data` pull on `bench.workload`: about the best ratio to the floor a pure-Python pull can reach,
to judge `bench.data_pipeline`'s `ratio_to_floor` against.

    .venv/bin/python -m bench.data_bound [--points 100000] [--runs 3] [--redis-url redis://...]

The stripped pull does only the work no correct delivery can skip, everything per series computed once and
nothing kept that is not pushed: decode the TSDB answer; per point the None check, its series (the md5 of its
dims, once per series), its record id, the dedupe check, the value's rounding and the detect JSON line (byte
for byte the pipeline's, from a per-series template with the host enrichment and item scope decided once);
then one MULTI/EXEC: the lines to both items' lists (item 2 keeps half the hosts, as `build_group`'s scope
does) and the record ids to the dedupe sets. No time-point limit, expiry, priority, nodata, drop counts or
metrics. The floor is `bench.data_pipeline`'s: decode and push the same lines, no processing.

Prints one JSON line: `bound_s` and `floor_s` (each the fastest of `--runs`), `ratio_bound` =
floor_s / bound_s, and `same_bytes_as_pipeline` (the stripped pull's lines against `pipeline.run` + the wire
encoder's, on the first 2 000 points). It skips cheap required work too (reading the stored dedupe state,
the EXPIREs, the queue-length check, the checkpoint and heartbeat): its ratio is, if anything, optimistic.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
import uuid
from typing import Any

import redis

from alarm_access.adapters.redis.keys import PUSH_CHUNK
from alarm_access.adapters.redis.wire_json import WireEncoder
from alarm_access.kernel.hashing import count_md5
from alarm_access.records import pipeline
from alarm_access.records.standardize import POINT_PRECISION
from bench.data_pipeline import DEFAULT_URL, delete_prefix, push_floor
from bench.workload import BUCKETS, NOW, build_group, build_topology, hosts_for, raw_points

DIMS = ("bk_target_ip", "bk_target_cloud_id")


def _templates(topology: Any, point: dict[str, Any]) -> tuple[str, str, str, bool]:
    """A series' digest, the JSON around its record id, and whether item 2 keeps it."""
    dims = {name: point[name] for name in DIMS}
    digest = count_md5(dims)
    host = topology.host_by_address(point["bk_target_ip"], point["bk_target_cloud_id"])
    links = next(iter(host.topo_link.values()))
    enriched = {**dims, "bk_topo_node": list(links), "bk_host_id": str(host.bk_host_id)}
    head = ', "dimensions": ' + json.dumps(enriched) + ', "record_id": "'
    tail = '", "dimension_fields": ' + json.dumps(list(DIMS)) + f', "access_time": {NOW}}}'
    return digest, head, tail, any(link in {f"set|{s}" for s in range(1, 6)} for link in links)


def bound(client: redis.Redis, prefix: str, payload: bytes, topology: Any) -> tuple[float, list[list[bytes]]]:
    """Seconds of one stripped pull of `payload`, and the lines it pushed per list."""
    started = time.perf_counter()
    points = json.loads(payload)
    gc.disable()  # as `pipeline.run` and the delivery's encoding pause it; the decode and the push run with it
    series: dict[tuple[str, str], tuple[str, str, str, bool]] = {}
    everything: list[bytes] = []
    scoped: list[bytes] = []
    new: dict[int, set[str]] = {}
    for point in reversed(points):
        value = point.get("_result_")
        if value is None:
            continue
        at = point["_time_"]
        key = (point["bk_target_ip"], point["bk_target_cloud_id"])
        parts = series.get(key)
        if parts is None:
            parts = series[key] = _templates(topology, point)
        record_id = f"{parts[0]}.{at}"
        bucket = new.get(at)
        if bucket is None:
            bucket = new[at] = set()
        if record_id in bucket:
            continue
        bucket.add(record_id)
        number = repr(round(value, POINT_PRECISION)) if value else "0"  # `standardize.convert`
        line = (f'{{"time": {at}, "value": {number}, "values": {{"load5": {number}, "_result_": {number}, '
                f'"time": {at}}}{parts[1]}{record_id}{parts[2]}').encode()
        everything.append(line)
        if parts[3]:
            scoped.append(line)
    gc.enable()
    pipe = client.pipeline(transaction=True)
    for index, lines in enumerate((everything, scoped)):
        for start in range(0, len(lines), PUSH_CHUNK):
            pipe.lpush(f"{prefix}.bound.{index}", *lines[start : start + PUSH_CHUNK])
    for at, ids in new.items():
        pipe.sadd(f"{prefix}.seen.{at}", *ids)
    pipe.execute()
    return time.perf_counter() - started, [everything, scoped]


def _same_bytes(client: redis.Redis, prefix: str, points: int = 2000) -> bool:
    """Whether the stripped pull writes exactly the pipeline's lines for the first `points` of the workload."""
    generated = raw_points(points)
    topology = build_topology(hosts_for(len(generated) // BUCKETS))
    payload = json.dumps(generated).encode()
    _, lists = bound(client, prefix, payload, topology)
    delete_prefix(client, prefix)
    result = pipeline.run(build_group(), json.loads(payload), now=NOW, topology_index=topology, seen_record_ids={},
                          priority_state={}, access_time=NOW)
    encoder = WireEncoder()
    return [sorted(lines) for lines in lists] == [sorted(map(encoder.encode, records))
                                                 for records in result.data.values()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--redis-url", default=DEFAULT_URL)
    args = parser.parse_args(argv)
    generated = raw_points(args.points)
    topology = build_topology(hosts_for(len(generated) // BUCKETS))
    payload = json.dumps(generated).encode()
    del generated
    client = redis.Redis.from_url(args.redis_url, socket_timeout=300)
    prefix = f"bench.{uuid.uuid4().hex}"
    bounds, floors = [], []
    try:
        for _ in range(args.runs):
            seconds, lists = bound(client, prefix, payload, topology)
            bounds.append(seconds)
            delete_prefix(client, prefix)
            floors.append(push_floor(client, prefix, payload, lists))
            delete_prefix(client, prefix)
        same = _same_bytes(client, prefix)
    finally:
        delete_prefix(client, prefix)
        client.close()
    print(json.dumps({"points": args.points, "pushed": sum(map(len, lists)), "bound_s": round(min(bounds), 3),
                      "floor_s": round(min(floors), 3), "ratio_bound": round(min(floors) / min(bounds), 3),
                      "same_bytes_as_pipeline": same}))


if __name__ == "__main__":
    main()
