"""SigniTrend detectors on synthetic series: quiet on steady and seasonal traffic, loud on
spikes, fixed memory, and resumable from saved state."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from allsang.listening.trends import HashedTrends, SeasonalTrends, bucket_terms, score

START = datetime(2025, 9, 1, tzinfo=UTC)  # a Monday


def steady(rng: random.Random, mean: float) -> int:
    # Poisson-like noise without numpy's global state.
    return max(0, round(rng.gauss(mean, mean**0.5)))


def test_the_bias_keeps_a_first_mention_of_a_rare_term_below_a_real_spike() -> None:
    assert score(2, 0.0, 0.0, beta=3.0) < 0
    assert score(40, 5.0, 4.0, beta=3.0) > 4


def test_a_steady_series_raises_nothing() -> None:
    rng = random.Random(1)
    detector = HashedTrends(width=1024)
    raised = []
    for _hour in range(24 * 14):
        counts = {"volvo": steady(rng, 20), "#nordlys": steady(rng, 5), "saab": steady(rng, 1)}
        raised += detector.observe(counts)
    assert raised == []


def test_a_spike_raises_for_the_spiking_term_only() -> None:
    rng = random.Random(2)
    detector = HashedTrends(width=1024)
    for _hour in range(48):
        detector.observe({"volvo": steady(rng, 20), "#storm": steady(rng, 1)})
    signals = detector.observe({"volvo": 21, "#storm": 60})
    assert [s.key for s in signals] == ["#storm"]
    assert signals[0].z > 4 and signals[0].count == 60


@pytest.mark.slow
def test_memory_stays_fixed_after_a_million_distinct_terms() -> None:
    detector = HashedTrends(width=4096, depth=3)
    size, saved = detector.nbytes, len(detector.to_bytes())
    for bucket in range(100):
        detector.observe({f"term{bucket}-{n}": 1 for n in range(10_000)})
    assert detector.nbytes == size
    assert abs(len(detector.to_bytes()) - saved) < 32  # only the bucket counter grows
    # Collisions raise cell baselines, so a burst of a new term is still seen.
    assert [s.key for s in detector.observe({"#brandnew": 500})] == ["#brandnew"]


def test_a_restarted_hashed_detector_resumes_from_its_saved_state() -> None:
    rng = random.Random(3)
    detector = HashedTrends(width=512)
    for _hour in range(30):
        detector.observe({"volvo": steady(rng, 20)})
    restored = HashedTrends.from_bytes(detector.to_bytes())
    assert restored.observe({"volvo": 90}) == detector.observe({"volvo": 90})
    with pytest.raises(ValueError):
        HashedTrends.from_bytes(b"garbage")


def monday_morning_series(weeks: int, rng: random.Random) -> list[tuple[datetime, int]]:
    series = []
    for hour in range(24 * 7 * weeks):
        at = START + timedelta(hours=hour)
        local = at.astimezone(SeasonalTrends(timezone="Europe/Stockholm").zone)
        peak = local.weekday() == 0 and 7 <= local.hour <= 9
        series.append((at, steady(rng, 60 if peak else 6)))
    return series


def test_regular_monday_morning_peaks_do_not_raise_once_learned() -> None:
    rng = random.Random(4)
    detector = SeasonalTrends(timezone="Europe/Stockholm")
    by_week: dict[int, int] = {}
    for at, count in monday_morning_series(6, rng):
        raised = detector.observe(at, {"q1": count})
        week = (at - START).days // 7
        by_week[week] = by_week.get(week, 0) + len(raised)
    assert by_week[0] > 0  # the first Monday peak is news
    assert by_week[3] == by_week[4] == by_week[5] == 0


def test_a_spike_outside_the_usual_hours_raises_even_after_learning() -> None:
    rng = random.Random(5)
    detector = SeasonalTrends(timezone="Europe/Stockholm")
    for at, count in monday_morning_series(4, rng):
        detector.observe(at, {"q1": count})
    wednesday_night = START + timedelta(weeks=4, days=2, hours=1)
    signals = detector.observe(wednesday_night, {"q1": 70})
    assert [s.key for s in signals] == ["q1"]
    assert signals[0].expected < 15


def test_a_query_that_goes_quiet_is_counted_as_zero_and_a_restart_resumes() -> None:
    detector = SeasonalTrends(timezone="Europe/Oslo", warmup=3)
    for hour in range(10):
        detector.observe(START + timedelta(hours=hour), {"q1": 10, "q2": 3})
    detector.observe(START + timedelta(hours=10), {"q2": 3})
    assert detector.keys["q1"].overall.mean < 10
    restored = SeasonalTrends.from_bytes(detector.to_bytes())
    later = START + timedelta(hours=11)
    assert restored.observe(later, {"q1": 80}) == detector.observe(later, {"q1": 80})
    restored.forget(["q2"])
    assert set(restored.keys) == {"q2"}
    with pytest.raises(ValueError):
        SeasonalTrends.from_bytes(b"{}")


def test_terms_of_a_bucket_count_each_post_once() -> None:
    counts = bucket_terms(["Volvo volvo #XC90 på 5 minuter", "volvo igen"])
    assert counts["volvo"] == 2 and counts["#xc90"] == 1
    assert "på" not in counts and "5" not in counts
