"""`InvalidRatio`: consumption stops (`TooManyInvalid`) when the share of invalid messages over about the last
`window` messages passes the limit; a refused batch changes nothing, and old batches age out of the window."""

from __future__ import annotations

import pytest

from alarm_access.access.event.batch import MIN_RATIO_SAMPLES, InvalidRatio, TooManyInvalid


def test_below_the_minimum_sample_nothing_is_refused() -> None:
    ratio = InvalidRatio(max_ratio=0.5, window=1000)
    ratio.check(total=MIN_RATIO_SAMPLES - 1, invalid=MIN_RATIO_SAMPLES - 1)  # too few to judge: accepted


def test_a_batch_over_the_limit_is_refused_and_leaves_the_window_unchanged() -> None:
    ratio = InvalidRatio(max_ratio=0.5, window=1000)
    ratio.accept(total=100, invalid=40)
    with pytest.raises(TooManyInvalid, match=r"110 of the last 200 messages are invalid \(limit 50%\)"):
        ratio.check(total=100, invalid=70)
    ratio.check(total=100, invalid=60)  # 100 of 200 is at the limit, not over it: the refusal left no trace


def test_old_batches_age_out_so_a_recovered_stream_resumes() -> None:
    ratio = InvalidRatio(max_ratio=0.5, window=200)
    ratio.accept(total=200, invalid=100)
    with pytest.raises(TooManyInvalid):
        ratio.check(total=100, invalid=100)
    for _ in range(3):  # clean traffic pushes the bad batch out of the window
        ratio.check(total=100, invalid=0)
        ratio.accept(total=100, invalid=0)
    ratio.check(total=100, invalid=100)  # 100 of 300: the old invalid batch no longer counts


def test_the_last_batch_always_counts_even_when_larger_than_the_window() -> None:
    ratio = InvalidRatio(max_ratio=0.1, window=10)
    ratio.accept(total=500, invalid=100)
    with pytest.raises(TooManyInvalid):
        ratio.check(total=1, invalid=0)  # 100 of 501 is still over 10%: the big batch is not dropped yet
