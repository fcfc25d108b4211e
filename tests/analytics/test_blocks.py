"""Day blocks and response-time histograms (allsang.analytics.blocks)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from allsang.analytics import blocks
from allsang.analytics.definitions import percentile

HALF_A_BUCKET = blocks.GROWTH**0.5 - 1


@given(first=st.dates(date(2020, 1, 1), date(2030, 1, 1)), length=st.integers(1, 1200))
def test_a_period_is_covered_by_whole_blocks_exactly_once(first: date, length: int) -> None:
    last = first + timedelta(days=length - 1)
    covered = []
    for span, start, end in blocks.cover(first, last):
        day = start
        while day <= end:
            assert blocks.block_start(day, span) == day  # aligned
            covered += [day + timedelta(days=n) for n in range(span)]
            day += timedelta(days=span)
    assert covered == [first + timedelta(days=n) for n in range(length)]


def test_a_year_is_a_few_blocks_and_at_most_six_single_days_at_each_end() -> None:
    runs = blocks.cover(date(2025, 12, 5), date(2026, 12, 4))
    singles = [(start, end) for span, start, end in runs if span == 1]
    assert all((end - start).days < 6 for start, end in singles)
    assert sum(1 + (end - start).days // span for span, start, end in runs if span > 1) < 20


def test_weeks_start_on_mondays() -> None:
    assert blocks.EPOCH.weekday() == 0
    assert blocks.block_start(date(2026, 3, 5), 7) == date(2026, 3, 2)


@given(st.lists(st.floats(1, 10**7), min_size=1, max_size=200), st.sampled_from([0.5, 0.9]))
def test_a_percentile_from_the_histogram_is_within_half_a_bucket(
    seconds: list[float], q: float
) -> None:
    counts: dict[int, int] = {}
    for value in seconds:
        counts[blocks.bucket(value)] = counts.get(blocks.bucket(value), 0) + 1
    histogram = blocks.Histograms([blocks.encode(counts)]).sum_by(np.zeros(1, dtype=int), 1)[0]
    exact = percentile(seconds, q)
    assert exact is not None
    assert blocks.percentile(histogram, q) == pytest.approx(exact, rel=HALF_A_BUCKET + 1e-9)


def test_under_a_second_reads_as_zero_and_nothing_as_none() -> None:
    assert blocks.bucket(0) == blocks.bucket(0.9) == 0
    assert blocks.percentile(blocks.EMPTY, 0.5) is None
    histogram = np.zeros(blocks.BUCKETS)
    histogram[0] = 3
    assert blocks.percentile(histogram, 0.9) == 0


def test_histograms_of_many_rows_are_summed_per_group() -> None:
    rows = [{1: 2, 5: 1}, {5: 3}, {7: 4}]
    assert [blocks.decode(blocks.encode(row)) for row in rows] == rows
    summed = blocks.Histograms([blocks.encode(row) for row in rows]).sum_by(np.array([0, 0, 1]), 2)
    assert summed[0][[1, 5, 7]].tolist() == [2, 4, 0]
    assert summed[1][[1, 5, 7]].tolist() == [0, 0, 4]
