"""``allsang bench scale`` names its bottleneck from the figures (the run itself is in bench/)."""

from __future__ import annotations

import pytest

from allsang.cli.bench import BENCHMARKS
from allsang.scale.bench import _bottleneck


def test_it_is_one_of_the_benchmarks() -> None:
    assert BENCHMARKS["scale"] == "allsang.scale.bench"


def test_near_linear_speedup_says_add_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    line = _bottleneck({1: 100.0, 2: 190.0, 4: 370.0}, 200.0, "jobs")
    assert line == "jobs: 3.7× with 4 processes on 8 cores — scales; add processes (or hosts)"


def test_more_processes_than_cores_blames_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    line = _bottleneck({1: 100.0, 2: 150.0, 4: 160.0}, 200.0, "ingest")
    assert "the processes share the CPU" in line


def test_flat_speedup_on_enough_cores_blames_the_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    line = _bottleneck({1: 100.0, 2: 110.0, 4: 115.0}, 250.0, "ingest")
    assert line.endswith(
        "the database is the limit (one process on SQLite does 2.5× one on PostgreSQL)"
    )
