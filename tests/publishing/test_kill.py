"""Kill the worker at every step of a publish and count the posts on the (fake) network:
never two, never silently none.

A real worker process runs the ``publishing.deliver`` job against a local Mastodon that
speaks the real HTTP API. The worker is SIGKILLed

* after it committed "publishing" but before the network accepted the post (the request is
  dropped),
* after the network accepted the post but before the worker heard the answer and committed,
* after it committed "published".

A second worker then takes the job over when the lease expires. Whatever happened, the post
must be on the network exactly once and recorded as published, or — where the engine cannot
know — recorded as outcome unknown with a reason and not posted twice.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from allsang.db import Database
from allsang.db.models import Job
from allsang.db.models.publishing import PostDelivery
from allsang.publishing import service
from allsang.runtime import Runtime
from allsang.secretbox import SecretBox
from allsang.settings import Settings
from tests.conftest import TEST_KEY
from tests.publishing.conftest import create_newsroom
from tests.publishing.fake_mastodon import FakeMastodon

pytestmark = pytest.mark.slow

WORKER = Path(__file__).with_name("worker_process.py")
TEXT = "Välkommen till öppet hus på torsdag!"
DEADLINE = 60.0


class Workers:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [
                sys.executable,
                str(WORKER),
                self.settings.database_url,
                TEST_KEY,
                str(self.settings.data_dir),
            ]
        )
        self.processes.append(process)
        return process

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def workers(settings: Settings) -> Iterator[Workers]:
    pool = Workers(settings)
    yield pool
    pool.stop()


def _run(settings: Settings, work: Callable[[Runtime], Any]) -> Any:
    async def go() -> Any:
        db = Database.unpooled(settings.sqlalchemy_url)
        try:
            return await work(Runtime(settings, db, SecretBox([TEST_KEY])))
        finally:
            await db.dispose()

    return asyncio.run(go())


def _schedule(settings: Settings, instance: str) -> int:
    async def work(runtime: Runtime) -> int:
        room = await create_newsroom(runtime, instance)
        async with runtime.db.write() as session:
            post = await service.create_draft(
                session, room.actor("editor"), body=TEXT, channel_ids=[room.channel_id]
            )
            await service.publish_now(session, room.actor("editor"), post.id)
            return (
                await session.scalars(
                    select(PostDelivery.id).where(PostDelivery.post_id == post.id)
                )
            ).one()

    return _run(settings, work)


def _state(settings: Settings, delivery_id: int) -> tuple[PostDelivery, str]:
    async def work(runtime: Runtime) -> tuple[PostDelivery, str]:
        async with runtime.db.read() as session:
            delivery = await session.get(PostDelivery, delivery_id)
            job = await session.scalar(select(Job).where(Job.kind == "publishing.deliver"))
            assert delivery is not None and job is not None
            return delivery, job.status

    return _run(settings, work)


def _wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _kill(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


def _settled(settings: Settings, delivery_id: int) -> PostDelivery:
    """Wait until the delivery reached a final state and its job finished."""
    final: list[PostDelivery] = []

    def done() -> bool:
        delivery, job_status = _state(settings, delivery_id)
        if delivery.state in ("published", "failed", "outcome_unknown") and job_status in (
            "done",
            "dead",
        ):
            final.append(delivery)
            return True
        return False

    _wait_until(done, "the delivery to settle")
    return final[-1]


def _assert_exactly_once_or_flagged(delivery: PostDelivery, fake: FakeMastodon) -> None:
    posted = fake.texts()
    assert len(posted) <= 1, f"published twice: {posted}"
    if delivery.state == "published":
        assert posted == [TEXT]
        assert delivery.external_id == fake.statuses[0]["id"]
    else:
        assert delivery.state == "outcome_unknown" and delivery.unknown_reason, (
            f"silently lost: {delivery.state}, {delivery.last_error}"
        )


def _blocking_hook(killed: threading.Event, reached: threading.Event) -> Callable[[], bool]:
    def hook() -> bool:
        reached.set()
        killed.wait(DEADLINE)
        return False  # the request is lost with the worker

    return hook


def test_killed_after_committing_publishing_before_the_network_accepted(
    settings: Settings, httpserver: HTTPServer, workers: Workers
) -> None:
    fake = FakeMastodon(httpserver)
    delivery_id = _schedule(settings, fake.url)
    reached, killed = threading.Event(), threading.Event()
    fake.on_receive = _blocking_hook(killed, reached)
    first = workers.start()
    assert reached.wait(DEADLINE), "the worker never called the network"
    assert _state(settings, delivery_id)[0].state == "publishing"  # committed before the call
    _kill(first)
    killed.set()
    fake.on_receive = None
    workers.start()
    delivery = _settled(settings, delivery_id)
    _assert_exactly_once_or_flagged(delivery, fake)
    # Mastodon remembers the key for an hour, so the resumed attempt could safely send again.
    assert delivery.state == "published"
    assert len({r["key"] for r in fake.requests}) == 1


def test_killed_after_the_network_accepted_before_the_worker_committed(
    settings: Settings, httpserver: HTTPServer, workers: Workers
) -> None:
    fake = FakeMastodon(httpserver)
    delivery_id = _schedule(settings, fake.url)
    reached, killed = threading.Event(), threading.Event()

    def hold() -> None:
        reached.set()
        killed.wait(DEADLINE)

    fake.on_accepted = hold
    first = workers.start()
    assert reached.wait(DEADLINE), "the network never accepted the post"
    _kill(first)
    killed.set()
    fake.on_accepted = None
    assert _state(settings, delivery_id)[0].state == "publishing"
    workers.start()
    delivery = _settled(settings, delivery_id)
    _assert_exactly_once_or_flagged(delivery, fake)
    assert delivery.state == "published"
    assert len(fake.requests) == 1  # found by reading back, not sent again


def test_killed_after_committing_published(
    settings: Settings, httpserver: HTTPServer, workers: Workers
) -> None:
    fake = FakeMastodon(httpserver)
    delivery_id = _schedule(settings, fake.url)
    first = workers.start()
    _wait_until(
        lambda: _state(settings, delivery_id)[0].state == "published", "the post to be published"
    )
    _kill(first)
    workers.start()
    delivery = _settled(settings, delivery_id)
    _assert_exactly_once_or_flagged(delivery, fake)
    assert delivery.state == "published" and len(fake.requests) == 1
