"""`PrometheusSource` against a real VictoriaMetrics, and its answer handling on canned HTTP answers."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from alarm_access.access.data.ports import SeriesPoints
from alarm_access.adapters.tsdb.prometheus import PrometheusSource
from alarm_access.kernel.errors import SourceUnavailable
from alarm_access.kernel.model import AggCondition
from tests.services.victoria import VictoriaMetrics, free_port, start_victoria
from tests.timeseries_samples import END, INTERVAL, T0, expected_by_ip, ordered, qc, samples


@pytest.fixture(scope="module")
def vm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VictoriaMetrics]:
    with start_victoria(Path(tmp_path_factory.mktemp("vm"))) as server:
        server.import_samples(samples())
        yield server


@pytest.fixture
def source(vm: VictoriaMetrics) -> Iterator[PrometheusSource]:
    prometheus = PrometheusSource(vm.url, connect_timeout=1, read_timeout=1, retries=1, backoff=0.05)
    yield prometheus
    prometheus.close()


@pytest.mark.integration
def test_points_per_bucket(source: PrometheusSource) -> None:
    points = source.query(qc("AVG", alias="load"), T0, END)
    assert ordered(points) == ordered(expected_by_ip("AVG", key="load"))
    assert [p["_time_"] for p in points] == sorted(p["_time_"] for p in points)
    assert set(points[0]) == {"bk_target_ip", "bk_target_cloud_id", "_time_", "_result_", "load"}


@pytest.mark.integration
def test_verbatim_promql_buckets_end_at_the_evaluation_time(source: PrometheusSource) -> None:
    promql = "sum by (bk_target_ip, bk_target_cloud_id) (sum_over_time(system_cpu_load_load5[60s] offset 1ms))"
    points = source.query(replace(qc("SUM"), promql=promql), T0, END)
    assert ordered(points) == ordered(expected_by_ip("SUM"))


@pytest.mark.integration
def test_label_values_with_regex_characters_match_literally(vm: VictoriaMetrics, source: PrometheusSource) -> None:
    vm.import_samples([("odd_metric_value", {"k": "a.b|c"}, T0, 1.0), ("odd_metric_value", {"k": "axb"}, T0, 2.0),
                       ("odd_metric_value", {"k": "c"}, T0, 4.0)])
    query = qc("SUM", dims=("k",), conditions=(AggCondition("k", "eq", ("a.b|c", "zz")),))
    query = replace(query, extra={"prometheus_metric": "odd_metric_value"})
    assert source.query(query, T0, T0 + INTERVAL) == [{"k": "a.b|c", "_time_": T0, "_result_": 1.0, "load5": 1.0}]


@pytest.mark.integration
def test_empty_window_is_no_data(source: PrometheusSource) -> None:
    assert source.query(qc(), T0 + 1000 * INTERVAL, T0 + 1010 * INTERVAL) == []


@pytest.mark.integration
def test_a_bad_query_is_an_error_not_empty(source: PrometheusSource) -> None:
    bad = replace(qc(), promql="sum((")
    with pytest.raises(SourceUnavailable, match="HTTP 4"):
        source.query(bad, T0, END)


def test_a_server_that_is_down_is_unavailable() -> None:
    source = PrometheusSource(f"http://127.0.0.1:{free_port()}", connect_timeout=1, retries=2, backoff=0.01)
    with pytest.raises(SourceUnavailable, match="ConnectError"):
        source.query(qc(), T0, END)
    source.close()


@pytest.mark.integration
def test_a_hung_server_is_unavailable_within_the_timeout(vm: VictoriaMetrics, source: PrometheusSource) -> None:
    started = time.monotonic()
    with vm.paused(), pytest.raises(SourceUnavailable, match="ReadTimeout"):
        source.query(qc(), T0, END)
    assert time.monotonic() - started < 15  # read_timeout=1: loose bound, the point is that it returns
    assert source.query(qc(), T0, END), "the source works again once the server resumes"



def _canned(*answers: tuple[int, Any], seen: list[httpx.Request]) -> PrometheusSource:
    """A source whose server answers `answers` in turn (status, JSON body or raw text)."""
    replies = iter(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        status, body = next(replies)
        text = body if isinstance(body, str) else json.dumps(body)
        return httpx.Response(status, text=text)

    return PrometheusSource("http://tsdb", transport=httpx.MockTransport(handle), retries=2, backoff=0.001)


def _matrix(*series: tuple[dict[str, Any], list[list[Any]]], **extra: Any) -> dict[str, Any]:
    result = [{"metric": labels, "values": values} for labels, values in series]
    return {"status": "success", "data": {"resultType": "matrix", "result": result}, **extra}


def test_request_asks_for_every_bucket_end_and_maps_back_to_bucket_starts() -> None:
    seen: list[httpx.Request] = []
    answer = _matrix(({"bk_target_ip": "1", "__name__": "x"},
                      [[T0 + 60, "1.5"], [T0 + 120, "NaN"], [T0 + 180, "+Inf"]]))
    source = _canned((200, answer), seen=seen)
    points = source.query(qc(dims=("bk_target_ip",)), T0 + 5, T0 + 3 * INTERVAL + 7)
    form = dict(httpx.QueryParams(seen[0].content.decode()))
    assert seen[0].url.path == "/api/v1/query_range"
    assert (form["start"], form["end"], form["step"]) == (str(T0 + 60), str(T0 + 180), "60")
    assert form["query"].startswith("avg by (bk_target_ip) (avg_over_time(system_cpu_load_load5[60s] offset 1ms")
    assert points == [
        {"bk_target_ip": "1", "_time_": T0, "_result_": 1.5, "load5": 1.5},
        {"bk_target_ip": "1", "_time_": T0 + 60, "_result_": None, "load5": None},
        {"bk_target_ip": "1", "_time_": T0 + 120, "_result_": None, "load5": None},
    ]


def test_a_window_shorter_than_a_bucket_asks_nothing() -> None:
    seen: list[httpx.Request] = []
    assert _canned(seen=seen).query(qc(), T0 + 1, T0 + 59) == []
    assert seen == []


def test_server_errors_are_retried_then_reported() -> None:
    seen: list[httpx.Request] = []
    assert _canned((503, "busy"), (200, _matrix()), seen=seen).query(qc(), T0, END) == []
    assert len(seen) == 2
    seen.clear()
    with pytest.raises(SourceUnavailable, match="HTTP 502"):
        _canned((502, "a"), (502, "b"), (502, "c"), seen=seen).query(qc(), T0, END)
    assert len(seen) == 3


def test_client_errors_are_not_retried() -> None:
    seen: list[httpx.Request] = []
    body = {"status": "error", "errorType": "bad_data", "error": "parse error"}
    with pytest.raises(SourceUnavailable, match=r"HTTP 400.*parse error"):
        _canned((400, body), seen=seen).query(qc(), T0, END)
    assert len(seen) == 1


def test_a_partial_answer_is_returned_marked_partial() -> None:
    answer = _matrix(({"bk_target_ip": "1"}, [[T0 + 60, "1.5"]]), isPartial=True)
    points = _canned((200, answer), seen=[]).query(qc(dims=("bk_target_ip",)), T0, END)
    assert isinstance(points, SeriesPoints) and points.is_partial
    assert [p["_result_"] for p in points] == [1.5]
    whole = _canned((200, _matrix(({"bk_target_ip": "1"}, [[T0 + 60, "1.5"]]))), seen=[]).query(qc(), T0, END)
    assert isinstance(whole, SeriesPoints) and not whole.is_partial


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("<html>proxy error</html>", "not JSON"),
        ({"status": "error", "errorType": "timeout", "error": "query timed out"}, "query timed out"),
        ({"status": "success", "data": {"resultType": "vector", "result": []}}, "expected a matrix"),
        ({"status": "success"}, "malformed"),
        (_matrix(({"a": "1"}, [[T0, 1.0]])), "malformed"),
        (_matrix(({"a": "1"}, [[T0, "one"]])), "malformed"),
        (_matrix(({"a": 1}, [[T0, "1"]])), "malformed"),
        (["not", "an", "object"], "malformed"),
    ],
)
def test_malformed_or_failed_answers_are_unavailable_not_empty(body: Any, match: str) -> None:
    with pytest.raises(SourceUnavailable, match=match):
        _canned((200, body), seen=[]).query(qc(), T0, END)
