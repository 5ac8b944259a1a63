"""`access.data.batch_split.split_points`: whole buckets per batch, the time-point limit over the whole pull."""

from __future__ import annotations

from typing import Any

from alarm_access.access.data.batch_split import split_points


def points(times: list[int], per_bucket: int, *, none_at: int | None = None) -> list[dict[str, Any]]:
    """`per_bucket` series per time, in the TSDB's order (by time); values None in bucket `none_at`."""
    return [{"host": f"h{s}", "_time_": t, "_result_": None if t == none_at else float(s)}
            for t in times for s in range(per_bucket)]


def test_no_bucket_is_split_and_every_point_is_kept_once() -> None:
    pulled = points([60 * k for k in range(1, 8)], per_bucket=30)
    plan = split_points(pulled, value_field="_result_", batch_size=70, max_time_points=0, checkpoint=0)
    assert [len(batch) for batch in plan.batches] == [60, 60, 60, 30]
    for batch in plan.batches:
        times = {p["_time_"] for p in batch}
        assert all(not times & {p["_time_"] for p in other} for other in plan.batches if other is not batch)
    assert sorted(id(p) for batch in plan.batches for p in batch) == sorted(id(p) for p in pulled)
    assert (plan.checkpoint, plan.limited, plan.discarded) == (420, False, 0)


def test_a_bucket_larger_than_the_batch_size_is_one_batch() -> None:
    plan = split_points(points([60, 120], per_bucket=50), value_field="_result_", batch_size=10,
                        max_time_points=0, checkpoint=0)
    assert [len(batch) for batch in plan.batches] == [50, 50]


def test_limit_counts_only_buckets_after_the_checkpoint_and_moves_the_checkpoint_to_the_last_kept() -> None:
    pulled = points([60 * k for k in range(1, 13)], per_bucket=5)  # 60..720, checkpoint 120
    plan = split_points(pulled, value_field="_result_", batch_size=10, max_time_points=3, checkpoint=120)
    kept = sorted({p["_time_"] for batch in plan.batches for p in batch})
    assert kept == [60, 120, 180, 240, 300]
    assert (plan.checkpoint, plan.limited, plan.discarded) == (300, True, 7 * 5)


def test_buckets_of_only_none_values_do_not_count_and_do_not_set_the_checkpoint() -> None:
    pulled = points([60, 120, 180], per_bucket=4, none_at=180)
    plan = split_points(pulled, value_field="_result_", batch_size=4, max_time_points=1, checkpoint=0)
    assert plan.checkpoint == 60
    assert sorted({p["_time_"] for batch in plan.batches for p in batch}) == [60]
    unlimited = split_points(pulled, value_field="_result_", batch_size=4, max_time_points=0, checkpoint=0)
    assert unlimited.checkpoint == 120 and len(unlimited.batches) == 3  # None points still go to a batch


def test_points_without_time_are_left_out() -> None:
    plan = split_points([{"_result_": 1.0}, {"_time_": 60, "_result_": 2.0}], value_field="_result_",
                        batch_size=1, max_time_points=0, checkpoint=0)
    assert plan.batches == (({"_time_": 60, "_result_": 2.0},),)
