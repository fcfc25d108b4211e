from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from allsang.jobs import Registry
from tests.jobs.helpers import Clock


@pytest.fixture
def clock() -> Clock:
    # Just ahead of real time, so jobs enqueued with the default run_at (now) are due.
    return Clock(datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1))


@pytest.fixture
def registry() -> Registry:
    return Registry()
