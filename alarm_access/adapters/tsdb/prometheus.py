"""`TimeSeriesSource` over the Prometheus HTTP query API (Prometheus, VictoriaMetrics, Thanos, Mimir).

One `query` is one `POST /api/v1/query_range` of `promql.build_query(qc)` with `step = I = qc.agg_interval`,
evaluated at every bucket END: from `first + I` to `stop` (`promql.bucket_bounds`). The sample evaluated at
time `t` is the bucket `[t - I, t)` and becomes a point with `_time_ = t - I`, matching the original's
"bucket `[T, T + I)` has `_time_ = T`" (which raw samples a bucket holds: `promql.build_query`).

Failure policy: connect errors, dropped keep-alive connections and 5xx answers are retried `retries` times
with exponential backoff; 4xx answers and read timeouts are not (a hung server would only multiply the wait),
so one call is bounded by about `(retries + 1) * (connect_timeout + read_timeout)`. Every failure, and any
answer that is not a well-formed successful matrix, raises `SourceUnavailable`. A partial answer
(VictoriaMetrics `isPartial`) is returned as `SeriesPoints(..., is_partial=True)`: the pull marks its records or,
for a double-check strategy, fails (spec §3.13).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from typing import Any

import httpx

from alarm_access.access.data.ports import SeriesPoints
from alarm_access.adapters.tsdb.promql import bucket_bounds, build_query, raw_point
from alarm_access.kernel.errors import SourceUnavailable
from alarm_access.kernel.model import QueryConfig
from alarm_access.logs import ctx

logger = logging.getLogger("alarm_access.adapters.tsdb.prometheus")

_RETRYABLE_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError, httpx.PoolTimeout)


class PrometheusSource:
    """A Prometheus-compatible query API at `base_url` (e.g. ``http://127.0.0.1:8428``).

    `transport` replaces the network transport (tests of the answer parsing use `httpx.MockTransport`).
    """

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
        retries: int = 2,
        backoff: float = 0.2,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._retries = retries
        self._backoff = backoff
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            headers=dict(headers or {}),
            transport=transport,
        )

    def query(self, qc: QueryConfig, start: int, end: int) -> list[dict[str, Any]]:
        interval = qc.agg_interval
        first, stop = bucket_bounds(start, end, interval)
        if stop <= first:
            return []
        form = {"query": build_query(qc), "start": str(first + interval), "end": str(stop), "step": str(interval)}
        answer = self._post("/api/v1/query_range", form)
        points = SeriesPoints(is_partial=isinstance(answer, dict) and bool(answer.get("isPartial")))
        for labels, values in _matrix(answer):
            for evaluated_at, value in values:
                points.append(raw_point(qc, labels, round(evaluated_at) - interval, value))
        points.sort(key=lambda point: point["_time_"])
        return points

    def close(self) -> None:
        self._client.close()

    def _post(self, path: str, form: Mapping[str, str]) -> Any:
        for attempt in range(self._retries + 1):
            last = attempt == self._retries
            try:
                response = self._client.post(path, data=form)
            except _RETRYABLE_ERRORS as exc:
                if last:
                    raise SourceUnavailable(f"prometheus {path}: {type(exc).__name__}: {exc}") from exc
                self._pause(attempt, f"{type(exc).__name__}: {exc}")
                continue
            except httpx.HTTPError as exc:
                raise SourceUnavailable(f"prometheus {path}: {type(exc).__name__}: {exc}") from exc
            if response.status_code >= 500 and not last:
                self._pause(attempt, f"HTTP {response.status_code}")
                continue
            if response.status_code != 200:
                raise SourceUnavailable(f"prometheus {path}: HTTP {response.status_code}: {response.text[:300]}")
            try:
                return response.json()
            except ValueError as exc:
                raise SourceUnavailable(f"prometheus {path}: answer is not JSON: {exc}") from exc
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _pause(self, attempt: int, reason: str) -> None:
        delay = self._backoff * 2**attempt
        logger.warning("prometheus query failed, retrying", extra=ctx(reason=reason, delay=delay))
        time.sleep(delay)


Series = tuple[dict[str, str], list[tuple[float, float | None]]]


def _matrix(answer: Any) -> list[Series]:
    """The series of a successful `matrix` answer; anything else raises `SourceUnavailable`."""
    try:
        if answer["status"] != "success":
            raise SourceUnavailable(f"prometheus answered {answer.get('errorType')}: {answer.get('error')}")
        data = answer["data"]
        if data["resultType"] != "matrix":
            raise SourceUnavailable(f"prometheus answered a {data['resultType']!r}, expected a matrix")
        series: list[Series] = []
        for item in data["result"]:
            labels = item["metric"]
            if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
                raise TypeError(f"labels are not a string map: {labels!r}")
            series.append((labels, [(float(t), _number(v)) for t, v in item["values"]]))
        return series
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SourceUnavailable(f"prometheus answer is malformed: {type(exc).__name__}: {exc}") from exc


def _number(text: Any) -> float | None:
    if not isinstance(text, str):
        raise TypeError(f"sample value {text!r} is not a string")
    value = float(text)
    return value if math.isfinite(value) else None
