"""Each metric of docs/metrics.md on a hand-built history with known answers."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from allsang.analytics import aggregate, blocks
from allsang.analytics.figures import Filters, build_report
from allsang.db import Database
from allsang.db.models import Workspace
from allsang.db.models.publishing import Post, PostDelivery
from tests.analytics.history import at, known_history

MONDAY = date(2026, 3, 2)


def within_a_bucket(seconds: float) -> object:
    """Percentiles come from histograms: each time is read as its bucket's middle, at most
    half a bucket (2.5 %) from the exact value."""
    return pytest.approx(seconds, rel=blocks.GROWTH**0.5 - 1)


async def _report(db: Database, **filters: int) -> tuple[dict, object]:
    async with db.write() as session:
        w = await known_history(session)
    await aggregate.refresh(db, w.workspace.id)
    async with db.read() as session:
        report = await build_report(session, w.workspace.id, Filters(MONDAY, MONDAY, **filters))
    return report.headline, report


async def test_the_dialogue_figures_of_the_worked_example(db: Database) -> None:
    headline, _rest = await _report(db)
    assert headline["conversations"] == 4
    assert headline["expecting"] == 3  # the question, the complaint and the e-mail
    assert headline["reply_rate"] == pytest.approx(2 / 3)
    assert headline["p50"] == within_a_bucket(1800)
    assert headline["p90"] == within_a_bucket(1800 + 0.8 * 1800)
    assert headline["two_turns"] == 0.75
    assert headline["unanswered"] == 1
    assert (headline["replies"], headline["broadcasts"]) == (4, 3)
    assert headline["reply_share"] == pytest.approx(4 / 3, abs=0.01)
    assert headline["resolution"] == within_a_bucket(3600)  # closed an hour after the praise
    assert headline["score"] == pytest.approx(100 * (2 / 3 + 0.75 + 4 / 7) / 3, abs=0.05)


async def test_figures_per_channel_department_and_person(db: Database) -> None:
    _headline, report = await _report(db)
    by_channel = {row[0]: row for row in report.table("dialogue_channel").rows}
    assert set(by_channel) == {"Mastodon", "E-mail"}
    mastodon = by_channel["Mastodon"]
    assert mastodon[2:5] == [3, 2, 0.5]  # conversations, expecting, reply rate
    assert mastodon[9:11] == [2, 2]  # replies, broadcasts
    by_department = {row[0]: row for row in report.table("dialogue_department").rows}
    assert by_department["Press"][4] == 1.0
    by_person = {row[0]: row for row in report.table("response_person").rows}
    assert by_person["Anna"][5] == within_a_bucket((1800 + 3600) / 2)
    assert by_person["Ola"][5] == within_a_bucket(600)


async def test_a_filter_narrows_every_figure(db: Database) -> None:
    async with db.write() as session:
        w = await known_history(session)
    await aggregate.refresh(db, w.workspace.id)
    async with db.read() as session:
        report = await build_report(
            session, w.workspace.id, Filters(MONDAY, MONDAY, channel_id=w.mail.id)
        )
    assert report.headline["conversations"] == 1
    assert report.table("volume").rows == [[MONDAY, 2, 2, 1]]


async def test_contributor_spread_counts_people_and_their_concentration(db: Database) -> None:
    _headline, report = await _report(db)
    spread = {row[0]: row for row in report.table("spread_channel").rows}
    # Mastodon: Anna wrote 3 (a reply and two posts), Ola 1.
    assert spread["Mastodon"][1:] == [2, 0.75, pytest.approx(0.25)]
    # E-mail: Anna 2 replies, Ola 1 post.
    assert spread["E-mail"][1] == 2
    assert spread["E-mail"][2] == pytest.approx(2 / 3)


async def test_languages_and_voices_come_from_the_audience(db: Database) -> None:
    _headline, report = await _report(db)
    voices = report.table("voices").rows
    assert [(row[1], row[3]) for row in voices] == [("asa", 2), ("cy", 2), ("bo", 1)]
    assert {row[0] for row in report.table("languages").rows} == {"sv"}


async def test_posts_published_through_allsang_are_counted_per_channel(db: Database) -> None:
    async with db.write() as session:
        w = await known_history(session)
        post = Post(workspace_id=w.workspace.id, department_id=w.press.id, title="Program")
        session.add(post)
        await session.flush()
        for day, key in ((2, "a"), (9, "b")):  # the second is outside the period
            session.add(
                PostDelivery(
                    workspace_id=w.workspace.id,
                    post_id=post.id,
                    channel_id=w.mastodon.id,
                    due_at=at(day, 10),
                    state="published",
                    idempotency_key=f"k{key}{post.id}",
                    published_at=at(day, 10),
                )
            )
    await aggregate.refresh(db, w.workspace.id)
    async with db.read() as session:
        report = await build_report(session, w.workspace.id, Filters(MONDAY, MONDAY))
    by_channel = {row[0]: row for row in report.table("posts_channel").rows}
    assert by_channel["Mastodon"][1:] == [2, 2, 1]  # broadcasts, replies, published
    by_department = {row[0]: row for row in report.table("posts_department").rows}
    assert by_department["Press"][3] == 1  # the post's own department wins


async def test_a_year_read_from_blocks_gives_the_figures_of_its_only_day(db: Database) -> None:
    # 2 March lies inside whole 7-, 28- and 112-day blocks of this year: every figure must come
    # out as it does from the day's own rows.
    headline, day = await _report(db)
    async with db.read() as session:
        workspace_id = await session.scalar(select(Workspace.id).order_by(Workspace.id.desc()))
        assert workspace_id is not None
        year = await build_report(
            session, workspace_id, Filters(date(2026, 1, 1), date(2026, 12, 31))
        )
    assert year.headline == headline
    for key in ("dialogue_channel", "response_person", "posts_channel", "spread_channel", "voices"):
        assert year.table(key).rows == day.table(key).rows, key
    days = [row for row in year.table("volume").rows if any(row[1:])]
    assert days == day.table("volume").rows == [[MONDAY, 5, 4, 3]]
    weeks = {row[0]: row[1:] for row in year.table("spread_trend").rows}
    assert weeks[MONDAY][0] == 2  # Anna and Ola wrote in the week of 2 March


async def test_whole_weeks_keep_only_their_most_active_voices(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(aggregate, "VOICES_KEPT", 1)
    _headline, day = await _report(db)
    async with db.read() as session:
        workspace_id = await session.scalar(select(Workspace.id).order_by(Workspace.id.desc()))
        assert workspace_id is not None
        week = await build_report(session, workspace_id, Filters(MONDAY, date(2026, 3, 8)))
    assert [row[1] for row in day.table("voices").rows] == ["asa", "cy", "bo"]
    # One voice per channel and week: asa (2) on Mastodon, cy (2) by e-mail; bo (1) is left out.
    assert [row[1] for row in week.table("voices").rows] == ["asa", "cy"]


async def test_engagement_per_channel_and_the_best_times_to_post(db: Database) -> None:
    async with db.write() as session:
        w = await known_history(session)
        post = Post(workspace_id=w.workspace.id, department_id=w.press.id, title="Program")
        session.add(post)
        await session.flush()
        # (UTC hour, likes, reposts, replies, read back?) — Stockholm is UTC+1 on 2 March.
        for hour, likes, reposts, replies, read in (
            (10, 3, 1, 0, True),
            (14, 5, 1, 2, True),
            (15, 90, 9, 9, False),  # never read back from the network: left out
        ):
            session.add(
                PostDelivery(
                    workspace_id=w.workspace.id,
                    post_id=post.id,
                    channel_id=w.mastodon.id,
                    due_at=at(2, hour),
                    state="published",
                    idempotency_key=f"e{hour}-{post.id}",
                    published_at=at(2, hour),
                    likes=likes,
                    reposts=reposts,
                    replies=replies,
                    engagement_at=at(3, 9) if read else None,
                )
            )
    await aggregate.refresh(db, w.workspace.id)
    async with db.read() as session:
        report = await build_report(session, w.workspace.id, Filters(MONDAY, MONDAY))
    assert report.table("engagement_channel").rows == [["Mastodon", 2, 8, 2, 2, 6.0]]
    assert report.table("best_times").rows == [["Monday 15:00", 1, 8.0], ["Monday 11:00", 1, 4.0]]
