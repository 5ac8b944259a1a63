"""End-to-end throughput of one `data` pull against real Redis, next to a no-processing floor.

    .venv/bin/python -m bench.data_pipeline [--sizes 10000,100000,1000000] [--runs 3] [--redis-url redis://...]

For each size, in a fresh subprocess (so `peak_rss_mb` is that size's own peak), with the workload of
`bench.workload`:

* end to end: decode the TSDB response (JSON bytes) → `RedisSink.read_seen` → `pipeline.run` →
  `RedisSink.deliver` (one MULTI/EXEC) — the work `access.data.pull.pull_group` does after its query;
* floor: decode the same response and pipeline the same record bytes to as many lists (LPUSH in chunks of
  `PUSH_CHUNK`), with no processing — what any implementation pays at least. Each is run `--runs` times
  (fresh keys each time) and the fastest run of each is reported: the first push into memory Redis has not
  used yet costs up to twice as much, and a single run charged that to whichever of the two came first.
  `bench.data_bound` measures the best a stripped Python pull does against the same floor.

With `--batch-threshold N` (> 0) the pull goes through `access.data.bounded.BoundedPull` as in `-H process`
with `ALARM_ACCESS_DATA_BATCH_THRESHOLD=N`: the response is held as one zlib-compressed JSON document per
bucket, each query of a time slice decodes only its buckets, and batches of whole buckets are delivered as they
come; the floor decompresses and decodes each bucket's document and pushes that bucket's record bytes, bucket by
bucket.

Prints one JSON line per size. Every key is written under a unique prefix and deleted afterwards.
Nothing is asserted: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import resource
import subprocess
import sys
import time
import uuid
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import redis

from alarm_access.access.data.bounded import BoundedPull
from alarm_access.access.data.ports import SeriesPoints
from alarm_access.access.data.pull import NO_EXTRAS
from alarm_access.access.data.schedule import QueryWindow
from alarm_access.adapters.redis.client import connect
from alarm_access.adapters.redis.keys import PUSH_CHUNK
from alarm_access.adapters.redis.sink import RedisSink
from alarm_access.kernel.model import QueryConfig, StrategyGroup
from alarm_access.kernel.settings import DataSettings
from alarm_access.records import pipeline
from alarm_access.records.enrich import TopologyIndex
from alarm_access.records.standardize import point_time, to_wire
from bench.workload import BUCKETS, INTERVAL, NOW, T0, bucket_points, build_group, build_topology, hosts_for, raw_points

DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
DEFAULT_URL = "redis://127.0.0.1:6379/0"


def delete_prefix(client: redis.Redis, prefix: str) -> None:
    keys = list(client.scan_iter(match=f"{prefix}.*", count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])


def push_floor(client: redis.Redis, prefix: str, payload: bytes, lists: Sequence[Sequence[str | bytes]]) -> float:
    """Seconds to decode `payload` and LPUSH `lists` (one Redis list each) in one pipelined round."""
    started = time.perf_counter()
    json.loads(payload)
    pipe = client.pipeline(transaction=False)
    for number, lines in enumerate(lists):
        for start in range(0, len(lines), PUSH_CHUNK):
            pipe.lpush(f"{prefix}.floor.{number}", *lines[start : start + PUSH_CHUNK])
    pipe.execute()
    return time.perf_counter() - started


def _pull_once(sink: RedisSink, group: StrategyGroup, payload: bytes, index: TopologyIndex
               ) -> tuple[dict[str, float], pipeline.PullResult]:
    """One end-to-end pull of `payload` into `sink`: the seconds of each stage, and the result."""
    started = time.perf_counter()
    points = json.loads(payload)
    decoded = time.perf_counter()
    seen = sink.read_seen(group, {point_time(p) for p in points} - {None})
    read = time.perf_counter()
    result = pipeline.run(
        group, points, now=NOW, topology_index=index, seen_record_ids=seen, priority_state={}, access_time=NOW
    )
    processed = time.perf_counter()
    sink.deliver(result, group, checkpoint=result.checkpoint or 0, now=NOW)
    delivered = time.perf_counter()
    return {"total_s": delivered - started, "decode_s": decoded - started, "read_seen_s": read - decoded,
            "pipeline_s": processed - read, "deliver_s": delivered - processed}, result


def measure(size: int, url: str, runs: int) -> dict[str, Any]:
    """Run one size `runs` times in this process (fresh keys each time, the floor after each) and return the
    fastest end-to-end run's figures and the fastest floor: Redis pays for memory it has not used yet on a
    first run, whichever of the two comes first."""
    group = build_group()
    generated = raw_points(size)
    index = build_topology(hosts_for(len(generated) // BUCKETS))
    payload = json.dumps(generated).encode()
    del generated
    client = connect(url, timeout=300)
    prefix = f"bench.{uuid.uuid4().hex}"
    best: dict[str, float] = {}
    floors: list[float] = []
    try:
        for _ in range(runs):
            stages, result = _pull_once(RedisSink(client, prefix), group, payload, index)
            best = min(best, stages, key=lambda run: run.get("total_s", float("inf")))
            encoded = {id(r): json.dumps(to_wire(r)) for records in result.data.values() for r in records}
            lists = [[encoded[id(r)] for r in records] for records in result.data.values()]
            pushed, drops = sum(len(lines) for lines in lists), dict(result.drops)
            del result, encoded
            gc.collect()
            delete_prefix(client, prefix)
            floors.append(push_floor(client, prefix, payload, lists))
            delete_prefix(client, prefix)
            del lists
    finally:
        delete_prefix(client, prefix)
        client.close()
    total, floor_s = best["total_s"], min(floors)
    return {
        "points": size,
        "runs": runs,
        "pushed": pushed,
        "drops": drops,
        "points_per_s": round(size / total),
        "floor_points_per_s": round(size / floor_s),
        "ratio_to_floor": round(floor_s / total, 3),
        "us_per_point": round(total / size * 1e6, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        **{stage: round(seconds, 3) for stage, seconds in best.items()},
        "floor_s": round(floor_s, 3),
    }


class _BucketSource:
    """A `TimeSeriesSource` over one JSON document per bucket, zlib-compressed (the answer lives in the TSDB,
    not in the process: only what a query returns should count in its RSS): a query decodes its slice's."""

    def __init__(self, documents: list[bytes]) -> None:
        self.documents, self.queries, self.decode_s = documents, 0, 0.0

    def query(self, qc: QueryConfig, start: int, end: int) -> SeriesPoints:
        self.queries += 1
        started, points = time.perf_counter(), SeriesPoints()
        for bucket, document in enumerate(self.documents):
            if start <= T0 + bucket * INTERVAL < end:
                points.extend(json.loads(zlib.decompress(document)))
        self.decode_s += time.perf_counter() - started
        return points


def measure_bounded(size: int, url: str, threshold: int) -> dict[str, Any]:
    """Run one size through `BoundedPull` in this process and return its figures."""
    group, series = build_group(), size // BUCKETS
    index = build_topology(hosts_for(series))
    source = _BucketSource([zlib.compress(json.dumps(bucket_points(series, bucket)).encode(), 1)
                            for bucket in range(BUCKETS)])
    settings = DataSettings(batch_threshold=threshold)
    client = connect(url, timeout=300)
    prefix = f"bench.{uuid.uuid4().hex}"
    sink = RedisSink(client, prefix)
    try:
        started = time.perf_counter()
        report = BoundedPull(settings)(
            group, functools.partial(source.query, group.query_config), NOW, checkpoint=0,
            window=QueryWindow(T0, T0 + BUCKETS * INTERVAL), sink=sink, topology=index, settings=settings,
            extras=NO_EXTRAS)
        total = time.perf_counter() - started
        peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        delete_prefix(client, prefix)
        floor_s = 0.0
        for document in source.documents:  # bucket by bucket: the records to push are made outside the timing
            raw = zlib.decompress(document)
            result = pipeline.run(group, json.loads(raw), now=NOW, topology_index=index, seen_record_ids={},
                                  priority_state={}, access_time=NOW)
            lists = [[json.dumps(to_wire(r)) for r in records] for records in result.data.values()]
            del result
            started = time.perf_counter()
            zlib.decompress(document)
            floor_s += time.perf_counter() - started + push_floor(client, prefix, raw, lists)
    finally:
        delete_prefix(client, prefix)
        client.close()
    return {
        "points": size,
        "batch_threshold": threshold,
        "pushed": sum(report.pushed.values()),
        "drops": report.drops,
        "queries": source.queries,
        "points_per_s": round(size / total),
        "floor_points_per_s": round(size / floor_s),
        "ratio_to_floor": round(floor_s / total, 3),
        "us_per_point": round(total / size * 1e6, 2),
        "peak_rss_mb": round(peak_rss, 1),
        "total_s": round(total, 3),
        "decode_s": round(source.decode_s, 3),
        "floor_s": round(floor_s, 3),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)), help="comma-separated point counts")
    parser.add_argument("--redis-url", default=DEFAULT_URL)
    parser.add_argument("--batch-threshold", type=int, default=0,
                        help="> 0: deliver through BoundedPull, as -H process with ALARM_ACCESS_DATA_BATCH_THRESHOLD")
    parser.add_argument("--runs", type=int, default=3, help="one-transaction pulls: best of this many runs")
    parser.add_argument("--in-process", action="store_true", help="run the sizes here, not in subprocesses")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    for size in sizes:
        if args.in_process:
            figures = (measure_bounded(size, args.redis_url, args.batch_threshold) if args.batch_threshold > 0
                       else measure(size, args.redis_url, args.runs))
            print(json.dumps(figures), flush=True)
            continue
        command = [sys.executable, "-m", "bench.data_pipeline", "--in-process", "--sizes", str(size)]
        command += ["--redis-url", args.redis_url, "--batch-threshold", str(args.batch_threshold), "--runs",
                    str(args.runs)]
        subprocess.run(command, check=True, cwd=Path(__file__).resolve().parents[1])


if __name__ == "__main__":
    main()
