"""`observe_many` (one update per event time of a batch) records what `observe` once per anomaly would."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram

from alarm_access.access.event.handle import observe_many


def samples(histogram: Histogram) -> dict[str, float]:
    return {f"{s.name}{sorted(s.labels.items())}": s.value for m in histogram.collect() for s in m.samples
            if not s.name.endswith("_created")}


def test_observe_many_equals_repeated_observe() -> None:
    buckets = (0.1, 0.5, 1.0, 5.0)
    one = Histogram("one", "", buckets=buckets, registry=CollectorRegistry())
    many = Histogram("many", "", buckets=buckets, registry=CollectorRegistry())
    for amount, count in [(0.0, 3), (0.1, 2), (0.7, 1), (5.0, 4), (7.5, 5), (1.0, 1000)]:
        for _ in range(count):
            one.observe(amount)
        observe_many(many, amount, count)
    assert {k.replace("one", "x"): v for k, v in samples(one).items()} == \
        {k.replace("many", "x"): v for k, v in samples(many).items()}
