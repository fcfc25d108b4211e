"""Trends and spikes: SigniTrend-style significance of counts per time bucket.

Schubert, Weiler and Kriegel, "SigniTrend: scalable detection of emerging topics in textual
streams by hashed significance thresholds" (KDD 2014). For every key an exponentially
weighted moving average (EWMA) mean μ and variance σ² of its count per bucket are kept; the
count x of a new bucket scores

    z = (x − max(μ, β)) / (σ + β)

where the bias β keeps rare keys (μ ≈ 0, σ ≈ 0) from scoring huge on two mentions. The score
is computed against the statistics *before* the bucket is folded in.

* :class:`HashedTrends` — terms and hashtags, unbounded in number: the statistics live in a
  count-min-style table of ``depth`` rows × ``width`` cells (numpy), each key hashed to one
  cell per row; a key's score is the minimum over its cells (collisions only ever inflate a
  cell's μ and σ, so the minimum is the least contaminated). Memory is fixed whatever the
  number of distinct keys.
* :class:`SeasonalTrends` — tracked queries, few and known: exact statistics per key plus an
  hour-of-week baseline (168 slots in the workspace's time zone), so a regular Monday-morning
  peak stops raising once a few weeks have shown it.

Both serialise to bytes (:meth:`to_bytes` / :meth:`from_bytes`) so a restarted worker resumes
with what it had learnt.
"""

from __future__ import annotations

import json
import math
import struct
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from hashlib import blake2b
from zoneinfo import ZoneInfo

import numpy as np

from allsang.listening.text import normalize, tokenize

SLOTS = 7 * 24


@dataclass(frozen=True, slots=True)
class Signal:
    """A key whose count in a bucket is significantly above what was expected."""

    key: str
    count: float
    expected: float
    z: float


def score(x: float, mean: float, var: float, beta: float) -> float:
    """The SigniTrend significance of count ``x`` given EWMA ``mean`` and ``var``."""
    return (x - max(mean, beta)) / (math.sqrt(max(var, 0.0)) + beta)


def alpha_for_half_life(buckets: float) -> float:
    """The EWMA weight that halves an observation's influence after ``buckets`` buckets."""
    return 1.0 - 0.5 ** (1.0 / buckets)


def bucket_terms(texts: Iterable[str]) -> Counter[str]:
    """Terms of a bucket of texts: hashtags as ``#tag`` and words of 3+ letters, casefolded.

    Each text counts a term once (a post repeating a word is one mention).
    """
    counts: Counter[str] = Counter()
    for text in texts:
        seen = set()
        for token in tokenize(text):
            if token.kind == "tag" or (
                token.kind == "word" and len(token.text) >= 3 and not token.text.isdigit()
            ):
                seen.add(normalize(token.text))
        counts.update(seen)
    return counts


class HashedTrends:
    """Fixed-memory SigniTrend over any number of keys (see the module docstring)."""

    _MAGIC = b"ASHT1"

    def __init__(
        self,
        *,
        width: int = 1 << 16,
        depth: int = 4,
        half_life: float = 24.0,
        beta: float = 3.0,
        threshold: float = 4.0,
        warmup: int = 6,
    ) -> None:
        if width < 1 or depth < 1:
            raise ValueError("width and depth must be positive")
        self.width = width
        self.depth = depth
        self.half_life = half_life
        self.alpha = alpha_for_half_life(half_life)
        self.beta = beta
        self.threshold = threshold
        self.warmup = warmup
        self.buckets = 0
        self.mean = np.zeros((depth, width), dtype=np.float64)
        self.var = np.zeros((depth, width), dtype=np.float64)

    @property
    def nbytes(self) -> int:
        """Memory held by the statistics (constant for the detector's lifetime)."""
        return int(self.mean.nbytes + self.var.nbytes)

    def _cells(self, keys: list[str]) -> np.ndarray:
        """cells[i, r]: the cell of ``keys[i]`` in row r.

        One 64-bit keyed hash per key, the same in every process (``str.__hash__`` is salted
        per run), split into two halves for double hashing (Kirsch–Mitzenmacher):
        row r uses h1 + r·h2.
        """
        hashes = np.fromiter(
            (
                int.from_bytes(blake2b(k.encode("utf-8", "surrogatepass"), digest_size=8).digest())
                for k in keys
            ),
            dtype=np.uint64,
            count=len(keys),
        )
        h1 = hashes >> np.uint64(32)
        h2 = (hashes & np.uint64(0xFFFFFFFF)) | np.uint64(1)
        rows = np.arange(self.depth, dtype=np.uint64)
        return ((h1[:, None] + rows[None, :] * h2[:, None]) % np.uint64(self.width)).astype(
            np.int64
        )

    def observe(self, counts: Mapping[str, float]) -> list[Signal]:
        """Fold in one bucket's counts (keys absent from ``counts`` counted 0) and return the
        keys of this bucket that are significant, most significant first. Nothing is
        reported during the first ``warmup`` buckets."""
        keys = list(counts)
        values = np.fromiter((counts[k] for k in keys), dtype=np.float64, count=len(keys))
        # cells[i, r]: the cell of key i in row r
        cells = self._cells(keys)
        rows = np.broadcast_to(np.arange(self.depth), cells.shape)
        x = np.zeros((self.depth, self.width), dtype=np.float64)
        np.add.at(x, (rows, cells), values[:, None])
        signals = []
        if self.buckets >= self.warmup and keys:
            means = self.mean[rows, cells]
            z = (x[rows, cells] - np.maximum(means, self.beta)) / (
                np.sqrt(np.maximum(self.var[rows, cells], 0.0)) + self.beta
            )
            z_key = z.min(axis=1)
            for i in np.flatnonzero(z_key >= self.threshold):
                signals.append(
                    Signal(
                        keys[i], float(values[i]), float(means[i].min()), round(float(z_key[i]), 3)
                    )
                )
        delta = x - self.mean
        self.mean += self.alpha * delta
        self.var = (1.0 - self.alpha) * (self.var + self.alpha * delta * delta)
        self.buckets += 1
        signals.sort(key=lambda s: -s.z)
        return signals

    def to_bytes(self) -> bytes:
        header = json.dumps(
            {
                "width": self.width,
                "depth": self.depth,
                "half_life": self.half_life,
                "beta": self.beta,
                "threshold": self.threshold,
                "warmup": self.warmup,
                "buckets": self.buckets,
            }
        ).encode()
        return (
            self._MAGIC
            + struct.pack("<I", len(header))
            + header
            + self.mean.astype("<f8").tobytes()
            + self.var.astype("<f8").tobytes()
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> HashedTrends:
        """Restore a detector saved with :meth:`to_bytes`; raises ``ValueError`` if corrupt."""
        if not data.startswith(cls._MAGIC):
            raise ValueError("not a saved HashedTrends state")
        start = len(cls._MAGIC)
        (length,) = struct.unpack_from("<I", data, start)
        header = json.loads(data[start + 4 : start + 4 + length])
        buckets = header.pop("buckets")
        detector = cls(**header)
        cells = detector.depth * detector.width
        body = data[start + 4 + length :]
        if len(body) != 16 * cells:
            raise ValueError("truncated HashedTrends state")
        arrays = np.frombuffer(body, dtype="<f8").astype(np.float64)
        detector.mean = arrays[:cells].reshape(detector.depth, detector.width).copy()
        detector.var = arrays[cells:].reshape(detector.depth, detector.width).copy()
        detector.buckets = buckets
        return detector


@dataclass
class _Stats:
    mean: float = 0.0
    var: float = 0.0
    seen: int = 0

    def update(self, x: float, alpha: float) -> None:
        if self.seen == 0:
            self.mean, self.var = x, 0.0
        else:
            delta = x - self.mean
            self.mean += alpha * delta
            self.var = (1.0 - alpha) * (self.var + alpha * delta * delta)
        self.seen += 1


@dataclass
class _KeyState:
    overall: _Stats = field(default_factory=_Stats)
    slots: dict[int, _Stats] = field(default_factory=dict)


class SeasonalTrends:
    """Exact SigniTrend per tracked key with an hour-of-week baseline.

    Buckets are hours. Each key keeps overall statistics and statistics per hour-of-week slot
    (local time in ``timezone``, so the baseline follows daylight saving time). A slot seen at
    least ``slot_warmup`` times is the baseline; before that the overall statistics are.
    """

    def __init__(
        self,
        *,
        timezone: str = "UTC",
        half_life: float = 24.0,
        slot_half_life: float = 3.0,
        beta: float = 2.0,
        threshold: float = 4.0,
        warmup: int = 6,
        slot_warmup: int = 2,
    ) -> None:
        self.timezone = timezone
        self.zone = ZoneInfo(timezone)
        self.half_life = half_life
        self.slot_half_life = slot_half_life
        self.alpha = alpha_for_half_life(half_life)
        self.slot_alpha = alpha_for_half_life(slot_half_life)
        self.beta = beta
        self.threshold = threshold
        self.warmup = warmup
        self.slot_warmup = slot_warmup
        self.keys: dict[str, _KeyState] = {}

    def slot(self, at: datetime) -> int:
        """The hour-of-week slot (0 = Monday 00:00–01:00 local time) of an aware instant."""
        local = at.astimezone(self.zone)
        return local.weekday() * 24 + local.hour

    def baseline(self, key: str, at: datetime) -> tuple[float, float] | None:
        """(mean, variance) expected for ``key`` in the bucket at ``at``; None while warming up."""
        state = self.keys.get(key)
        if state is None or state.overall.seen < self.warmup:
            return None
        slot = state.slots.get(self.slot(at))
        stats = slot if slot is not None and slot.seen >= self.slot_warmup else state.overall
        return stats.mean, stats.var

    def observe(self, at: datetime, counts: Mapping[str, float]) -> list[Signal]:
        """Fold in the hour bucket starting at ``at``; every known key absent from ``counts``
        counted 0. Returns significant keys, most significant first."""
        if at.tzinfo is None:
            raise ValueError("use a timezone-aware bucket start")
        slot = self.slot(at)
        signals = []
        for key in sorted(set(self.keys) | set(counts)):
            x = float(counts.get(key, 0))
            expected = self.baseline(key, at)
            if expected is not None:
                z = score(x, expected[0], expected[1], self.beta)
                if z >= self.threshold:
                    signals.append(Signal(key, x, round(expected[0], 3), round(z, 3)))
            state = self.keys.setdefault(key, _KeyState())
            state.overall.update(x, self.alpha)
            state.slots.setdefault(slot, _Stats()).update(x, self.slot_alpha)
        signals.sort(key=lambda s: -s.z)
        return signals

    def forget(self, keep: Iterable[str]) -> None:
        """Drop the statistics of keys not in ``keep`` (deleted or deactivated queries)."""
        wanted = set(keep)
        for key in [k for k in self.keys if k not in wanted]:
            del self.keys[key]

    def to_bytes(self) -> bytes:
        return json.dumps(
            {
                "params": {
                    "timezone": self.timezone,
                    "half_life": self.half_life,
                    "slot_half_life": self.slot_half_life,
                    "beta": self.beta,
                    "threshold": self.threshold,
                    "warmup": self.warmup,
                    "slot_warmup": self.slot_warmup,
                },
                "keys": {
                    key: {
                        "o": [s.overall.mean, s.overall.var, s.overall.seen],
                        "s": {str(n): [v.mean, v.var, v.seen] for n, v in s.slots.items()},
                    }
                    for key, s in self.keys.items()
                },
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> SeasonalTrends:
        """Restore a detector saved with :meth:`to_bytes`; raises ``ValueError`` if corrupt."""
        try:
            saved = json.loads(data)
            detector = cls(**saved["params"])
            for key, value in saved["keys"].items():
                detector.keys[key] = _KeyState(
                    _Stats(*value["o"]),
                    {int(n): _Stats(*v) for n, v in value["s"].items()},
                )
        except (KeyError, TypeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"not a saved SeasonalTrends state: {exc}") from None
        return detector
