"""`clean()`: a candidate → the anomaly JSON line trigger reads (spec §1.7), byte-compatible in shape.

Contract: `standardize(candidate, now)` is pure. The line is
`{"data": {"time", "value", "values", "dimensions", "record_id", "dimension_fields"}, "anomaly": {"<level>":
{"anomaly_id", "anomaly_time", "anomaly_message"}}, "strategy_snapshot_key"}` with
`record_id = "<md5>.<T>"`, `anomaly_id = "<md5>.<T>.<strategy_id>.<item_id>.<level>"`, md5 = `count_md5` of
the output dimensions minus the facet's `identity_exclude` (spec W12), and `anomaly_time` the UTC wall clock
of `now`.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from alarm_access.access.event.fanout import Candidate
from alarm_access.kernel.hashing import count_md5

BASE_DIMENSION_FIELDS = ("bk_target_ip", "bk_target_cloud_id")


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One anomaly ready to push, with what the push needs to know besides the JSON `line`."""

    anomaly_id: str
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
    identity = {key: value for key, value in dims.items() if key not in facet.identity_exclude}
    md5 = count_md5(identity)
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
