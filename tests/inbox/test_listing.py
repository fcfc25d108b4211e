"""Inbox filters, cursors, tags, mentions and presence, below the web layer."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from allsang.inbox import presence
from allsang.inbox.actions import MENTION, parse_tags
from allsang.inbox.listing import InboxFilter, decode_cursor, encode_cursor


def test_a_filter_keeps_known_values_and_drops_the_rest() -> None:
    f = InboxFilter.from_query(
        {
            "status": "open",
            "assignee": "me",
            "department": "3",
            "channel": "x1",
            "language": "SV",
            "sentiment": "angry",
            "unanswered": "1",
            "tag": "99999999999999999999",
        }
    )
    assert f == InboxFilter(
        status="open", assignee="me", department=3, language="sv", unanswered=True
    )
    assert f.query_string() == "status=open&assignee=me&department=3&language=sv&unanswered=1"
    assert f.query_string(status="") == "assignee=me&department=3&language=sv&unanswered=1"
    assert InboxFilter.from_query({"assignee": "<script>"}).assignee == ""
    assert not InboxFilter().active


def test_a_cursor_round_trips_and_a_forged_one_is_ignored() -> None:
    at = datetime(2026, 11, 20, 9, 0, 0, 123456, tzinfo=UTC)
    assert decode_cursor(encode_cursor(at, 42)) == (at, 42)
    for forged in ("", "!!!", "bm90OmEtY3Vyc29y", "OTk5OTk5OTk5OTk5OTk5OTk5OTk5OjE"):
        assert decode_cursor(forged) is None


def test_tags_are_trimmed_and_deduplicated_ignoring_case() -> None:
    assert parse_tags(" Leverans , leverans,  refund  request ,, ") == [
        "Leverans",
        "refund request",
    ]


def test_mentions_are_at_names_but_not_e_mail_addresses() -> None:
    text = "@anna.berg and @Ola, see mail@example.org and kim@x (@kim)"
    assert MENTION.findall(text) == ["anna.berg", "Ola", "kim"]


def test_presence_lapses_by_itself_and_a_leave_removes_it_at_once() -> None:
    now = int(time.time())
    presence.record({"conversation": 7, "viewer": 1, "name": "Anna", "until": now + 30})
    presence.record({"conversation": 7, "viewer": 2, "name": "Ola", "until": now + 30})
    presence.record({"conversation": 7, "viewer": 3, "name": "Old", "until": now - 1})
    assert presence.names(7) == ["Anna", "Ola"]
    assert presence.names(7, exclude=1) == ["Ola"]
    presence.record({"conversation": 7, "viewer": 2, "until": 0})
    assert presence.names(7) == ["Anna"]
    presence.record({"conversation": 7, "viewer": 1, "until": 0})
