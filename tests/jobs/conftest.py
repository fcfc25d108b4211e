from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from allsang.jobs import Registry
from tests.jobs.helpers import Clock


@pytest.fixture
def clock() -> Clock:
    # Ahead of real time, so jobs a test enqueues with the default run_at (the real now) are
    # due, however long the database fixtures take to set up.
    return Clock(datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=10))


@pytest.fixture
def registry() -> Registry:
    return Registry()
