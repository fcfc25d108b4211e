"""Day blocks and response-time histograms: what keeps a long period's figures cheap.

**Blocks.** Besides one row per local day (span 1), the summed aggregates keep rows per block
of 7 days (Monday to Sunday), 28 days (four such weeks) and 112 days (four of those), aligned
on :data:`EPOCH`, a Monday. A period of any length is read as whole blocks plus at most six
single days at each end (:func:`cover`), so a year is about 20 block reads instead of 365 day
reads, each of them bounded by the dimensions (channels × departments × people), not by the
messages.

**Histograms.** Percentiles cannot be summed, so first-response and resolution times are kept
per bucket as log-spaced histograms: bucket 0 holds times under one second, bucket *k* ≥ 1
the times in [G^(k−1), G^k) seconds with G = :data:`GROWTH` (5 % wide), read back as the
bucket's geometric middle G^(k−½) — so a percentile is within 2.5 % of the exact one. A
histogram is stored as packed (bucket, count) pairs (:data:`PAIR`); a period's histograms are
decoded and summed in vectorised steps (:class:`Histograms`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt

EPOCH = date(2001, 1, 1)  # a Monday: 7-day blocks are ISO weeks
SPANS = (112, 28, 7, 1)
GROWTH = 1.05
BUCKETS = 512  # G^511 s is far beyond any response time; larger values share the last
PAIR = np.dtype([("bucket", "<u2"), ("count", "<u4")])
_LOG_GROWTH = math.log(GROWTH)
# The value a bucket stands for: 0 for bucket 0, else its geometric middle.
MIDDLES = np.array([0.0] + [GROWTH ** (k - 0.5) for k in range(1, BUCKETS)])
EMPTY = np.zeros(BUCKETS)


def block_start(day: date, span: int) -> date:
    """The first day of the ``span``-day block that holds ``day``."""
    return day - timedelta(days=(day - EPOCH).days % span)


def cover(first: date, last: date, spans: Sequence[int] = SPANS) -> list[tuple[int, date, date]]:
    """The period ``first``…``last`` as whole blocks, largest first: (span, first start, last
    start) runs of consecutive blocks of one span, at most two runs per span."""
    runs: list[tuple[int, date, date]] = []
    day = first
    while day <= last:
        span = next(
            s for s in spans if block_start(day, s) == day and day + timedelta(days=s - 1) <= last
        )
        if runs and runs[-1][0] == span and runs[-1][2] + timedelta(days=span) == day:
            runs[-1] = (span, runs[-1][1], day)
        else:
            runs.append((span, day, day))
        day += timedelta(days=span)
    return runs


def touched_blocks(days: Iterable[date], span: int) -> list[date]:
    return sorted({block_start(day, span) for day in days})


def bucket(seconds: float) -> int:
    if seconds < 1:
        return 0
    return min(BUCKETS - 1, 1 + int(math.log(seconds) / _LOG_GROWTH))


def encode(counts: dict[int, int]) -> bytes:
    pairs = np.array(sorted(counts.items()), dtype=np.int64).reshape(-1, 2)
    packed = np.empty(len(pairs), dtype=PAIR)
    packed["bucket"], packed["count"] = pairs[:, 0], pairs[:, 1]
    return packed.tobytes()


def decode(blob: bytes) -> dict[int, int]:
    packed = np.frombuffer(blob, dtype=PAIR)
    return dict(zip(packed["bucket"].tolist(), packed["count"].tolist(), strict=True))


class Histograms:
    """The packed histograms of many rows, decoded at once and summed by any grouping."""

    def __init__(self, blobs: Sequence[bytes]) -> None:
        lengths = np.array([len(b) for b in blobs], dtype=np.int64) // PAIR.itemsize
        packed = np.frombuffer(b"".join(blobs), dtype=PAIR)
        self._row = np.repeat(np.arange(len(blobs)), lengths)
        self._bucket = packed["bucket"].astype(np.int64)
        self._count = packed["count"]

    def sum_by(self, group_of_row: npt.NDArray, groups: int) -> npt.NDArray:
        """``groups`` dense histograms: row ``g`` sums the histograms of the rows in group
        ``g`` (``group_of_row[i]`` is row ``i``'s group)."""
        flat = np.bincount(
            group_of_row[self._row] * BUCKETS + self._bucket,
            weights=self._count,
            minlength=groups * BUCKETS,
        )
        return flat.reshape(groups, BUCKETS)


def percentile(histogram: npt.NDArray, q: float) -> float | None:
    """The ``q``-quantile (0…1) of a histogram with linear interpolation between closest ranks,
    like :func:`allsang.analytics.definitions.percentile` with each time read as its bucket's
    middle; None for an empty histogram."""
    total = int(histogram.sum())
    if total == 0:
        return None
    position = (total - 1) * q
    low = math.floor(position)
    high = min(low + 1, total - 1)
    ends = np.cumsum(histogram)
    at_low, at_high = np.searchsorted(ends, [low, high], side="right")
    value_low, value_high = float(MIDDLES[at_low]), float(MIDDLES[at_high])
    return value_low + (value_high - value_low) * (position - low)
