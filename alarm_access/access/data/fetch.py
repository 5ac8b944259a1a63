"""The query side of one `data` pull: `fetcher` makes the pull's `Fetch`, which every way of delivering a pull
(one transaction, Celery batches, `-H process` time slices) calls for its points."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from alarm_access import metrics
from alarm_access.access.data.ports import SeriesPoints, TimeSeriesSource
from alarm_access.access.data.query import ItemPlan, query_item
from alarm_access.kernel.errors import SourceUnavailable
from alarm_access.kernel.model import StrategyGroup
from alarm_access.kernel.settings import DataSettings
from alarm_access.logs import ctx

logger = logging.getLogger("alarm_access.access.data")

#: the points of the buckets starting in `[start, end)`, as `access.data.query.query_item` returns them
Fetch = Callable[[int, int], SeriesPoints]


def fetcher(group: StrategyGroup, plan: ItemPlan, source: TimeSeriesSource, settings: DataSettings) -> Fetch:
    """The `Fetch` of one pull of `group`: its points of `[start, end)` (`access.data.query`), timed and
    counted per source.

    A partial answer (spec §3.13) is counted and logged with a sample point; for a group holding a strategy of
    `double_check_strategy_ids` it raises `SourceUnavailable`: nothing more of the pull is delivered (a pull
    delivered in batches keeps the batches before that slice, with their dedupe state), and neither the
    checkpoint nor the heartbeat moves, so nodata reads "access is down", not "no data" (the original
    delivered an empty pull instead).
    """
    labels = group.query_config.source
    double_check = sorted(set(group.strategy_ids) & set(settings.double_check_strategy_ids))

    def fetch(start: int, end: int) -> SeriesPoints:
        started = time.perf_counter()
        try:
            points = query_item(plan, source, start, end)
        except Exception:
            metrics.SOURCE_ERRORS.labels(*labels).inc()
            raise
        finally:
            metrics.SOURCE_QUERY_TIME.labels(*labels).observe(time.perf_counter() - started)
        if points.is_partial:
            metrics.PARTIAL_ANSWERS.labels("failed" if double_check else "marked").inc()
            logger.warning("partial answer from the source", extra=ctx(
                sgk=group.key, window=f"{start}-{end}", points=len(points), sample=points[0] if points else "-",
                double_check=",".join(map(str, double_check)) or "-"))
            if double_check:
                raise SourceUnavailable(f"partial answer for double-check strategies {double_check}: "
                                        "nothing delivered")
        return points

    return fetch
