"""`clean()`: a candidate → the anomaly JSON line trigger reads (spec §1.7), byte-compatible in shape.

Contract: `standardize(candidate, now)` is pure. The line is
`{"data": {"time", "value", "values", "dimensions", "record_id", "dimension_fields"}, "anomaly": {"<level>":
{"anomaly_id", "anomaly_time", "anomaly_message"}}, "strategy_snapshot_key"}` with
`record_id = "<md5>.<T>"`, `anomaly_id = "<md5>.<T>.<strategy_id>.<item_id>.<level>"`, md5 = the
candidate's `md5`: the original's, over the host dimensions only for every kind but corefile and OOM (spec
§1.5/§1.7, W12; see `facets`), and `anomaly_time` the UTC wall clock of `now`.

`Anomaly.delivery_key` (`<anomaly_id>.<content md5>`) is what the push's replay dedupe remembers: with the
original's ids two distinct anomalies can share an anomaly id (two disks full on one host in one second),
never a delivery key. Detect-facing keys (check results, last checkpoint, priority, QoS) use `md5`.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from alarm_access.access.event.fanout import Candidate

BASE_DIMENSION_FIELDS = ("bk_target_ip", "bk_target_cloud_id")


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One anomaly ready to push, with what the push needs to know besides the JSON `line`."""

    anomaly_id: str
    #: the replay dedupe's key: `anomaly_id` and the md5 of the line's dimensions, value and message
    delivery_key: str
    md5: str
    time: int
    strategy_id: int
    item_id: int
    level: int
    bk_biz_id: int
    target_ip: str
    priority: int | None
    priority_group_key: str
    interval: int
    snapshot_key: str
    line: str


@functools.lru_cache(maxsize=16)
def utc_text(epoch: float) -> str:
    """`YYYY-MM-DD HH:MM:SS` in UTC; cached: every anomaly of a batch shares the batch's clock."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


def standardize(candidate: Candidate, now: float) -> Anomaly:
    event, facet, route, dims = candidate.event, candidate.facet, candidate.route, candidate.dimensions
    md5 = candidate.md5
    strategy, item, level, time = route.strategy, route.item, route.level, event.time
    fields = [*BASE_DIMENSION_FIELDS, *(["agent_version"] if "agent_version" in dims else []), *facet.fields]
    anomaly_id = f"{md5}.{time}.{strategy.id}.{item.id}.{level}"
    document = {
        "data": {
            "time": time,
            "value": event.title,
            "values": {"time": time, "value": event.title},
            "dimensions": dims,
            "record_id": f"{md5}.{time}",
            "dimension_fields": fields,
        },
        "anomaly": {
            str(level): {"anomaly_id": anomaly_id, "anomaly_time": utc_text(now), "anomaly_message": facet.message},
        },
        "strategy_snapshot_key": route.snapshot_key,
    }
    return Anomaly(
        anomaly_id=anomaly_id,
        delivery_key=f"{anomaly_id}.{candidate.content_md5}",
        md5=md5,
        time=time,
        strategy_id=strategy.id,
        item_id=item.id,
        level=level,
        bk_biz_id=strategy.bk_biz_id,
        target_ip=str(dims.get("bk_target_ip", "")),
        priority=strategy.priority,
        priority_group_key=strategy.priority_group_key,
        interval=item.min_interval,
        snapshot_key=route.snapshot_key,
        line=json.dumps(document),
    )
