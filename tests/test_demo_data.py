"""The bundled demo sample (``src/allsang/demo/messages.jsonl``) is valid and as described."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import datetime
from importlib import resources

import pytest

from allsang.ingest.message import validate_message

PLAN = {"sv": 30, "nb": 20, "nn": 7, "da": 18, "fi": 10, "en": 15}
INTENTS = {"question", "complaint", "praise", "sales_lead", "job", "press", "other"}
SENTIMENTS = {"pos", "neu", "neg"}
ORG_HANDLES = {"@nordlys@social.example", "nordlys.example"}


@pytest.fixture(scope="module")
def lines() -> list[str]:
    path = resources.files("allsang.demo") / "messages.jsonl"
    return path.read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def messages(lines: list[str]) -> list[dict]:
    return [json.loads(line) for line in lines]


def when(message: dict) -> datetime:
    return datetime.fromisoformat(message["created_at"])


def test_size(lines: list[str]) -> None:
    assert len(lines) >= 2000
    assert sum(len(line.encode()) + 1 for line in lines) < 2_200_000


def test_every_line_is_a_valid_normalised_message(lines: list[str]) -> None:
    for number, line in enumerate(lines, 1):
        data = json.loads(line)
        message = validate_message(data)
        assert message.text.strip(), number
        assert message.url.startswith(("https://", "mid:")), number
        assert message.author.name and message.author.url, number
        assert message.lang in PLAN, number


def test_required_fields_present(messages: list[dict]) -> None:
    required = {"channel", "external_id", "url", "kind", "author", "text", "created_at"}
    for message in messages:
        assert required <= message.keys()
        assert "in_reply_to" in message and "lang" in message


def test_external_ids_unique_per_channel(messages: list[dict]) -> None:
    keys = Counter((m["channel"], m["external_id"]) for m in messages)
    assert [key for key, n in keys.items() if n > 1] == []


def test_channel_id_shapes(messages: list[dict]) -> None:
    for message in messages:
        external_id = message["external_id"]
        match message["channel"]:
            case "mastodon":
                assert external_id.isdigit()
            case "bluesky":
                assert external_id.startswith("at://did:plc:")
                assert "/app.bsky.feed.post/" in external_id
            case "email":
                assert external_id.startswith("<") and external_id.endswith(">")
                assert message["kind"] == "email" and message.get("title")
                assert isinstance(message.get("references"), list)
            case "rss":
                assert message["kind"] == "article" and message.get("title")
            case other:
                pytest.fail(f"unexpected channel {other}")


def test_replies_point_to_earlier_messages_of_the_same_channel(messages: list[dict]) -> None:
    by_key = {(m["channel"], m["external_id"]): m for m in messages}
    for message in messages:
        parent_id = message["in_reply_to"]
        if parent_id is None:
            continue
        parent = by_key.get((message["channel"], parent_id))
        assert parent is not None, message["external_id"]
        assert when(parent) < when(message), message["external_id"]
        if message["channel"] == "email":
            assert message["references"][-1] == parent_id


def test_times_are_aware_and_within_fourteen_days(messages: list[dict]) -> None:
    stamps = [when(m) for m in messages]
    assert all(stamp.tzinfo is not None for stamp in stamps)
    assert (max(stamps) - min(stamps)).days <= 14
    assert len({m["created_at"][-6:] for m in messages}) >= 3  # several zones and summer time


def test_language_shares_follow_the_plan(messages: list[dict]) -> None:
    counts = Counter(m["lang"] for m in messages)
    assert set(counts) == set(PLAN)
    for lang, share in PLAN.items():
        actual = 100 * counts[lang] / len(messages)
        assert abs(actual - share) <= 5, (lang, round(actual, 1))


def test_threads(messages: list[dict]) -> None:
    by_key = {(m["channel"], m["external_id"]): m for m in messages}

    def root(message: dict) -> tuple[str, str]:
        while message["in_reply_to"] is not None:
            message = by_key[(message["channel"], message["in_reply_to"])]
        return message["channel"], message["external_id"]

    sizes = Counter(root(m) for m in messages)
    threads = [size for size in sizes.values() if size >= 2]
    assert len(threads) >= 150
    assert max(threads) <= 8

    outbound_replies = [
        m for m in messages if m.get("direction") == "outbound" and m["in_reply_to"] is not None
    ]
    assert len(outbound_replies) >= 150
    for message in outbound_replies:
        assert message["author"]["handle"] in ORG_HANDLES or message["author"]["handle"].endswith(
            "@nordlys.example"
        )


def test_kinds_and_channels_are_all_present(messages: list[dict]) -> None:
    assert {"post", "reply", "dm", "email", "article"} <= {m["kind"] for m in messages}
    assert {"mastodon", "bluesky", "rss", "email"} == {m["channel"] for m in messages}


def test_labels_cover_every_language(messages: list[dict]) -> None:
    seen: dict[str, set[str]] = defaultdict(set)
    for message in messages:
        labels = message["demo_labels"]
        assert labels["intent"] in INTENTS
        assert labels["sentiment"] in SENTIMENTS
        seen[message["lang"]].update((labels["intent"], labels["sentiment"]))
    for lang in PLAN:
        assert seen[lang] >= INTENTS | SENTIMENTS, (lang, (INTENTS | SENTIMENTS) - seen[lang])


def test_many_distinct_authors(messages: list[dict]) -> None:
    authors = Counter(m["author"]["handle"] for m in messages)
    assert len(authors) >= 300
    recurring = [a for a, n in authors.items() if n >= 3 and "nordlys" not in a]
    assert len(recurring) >= 10


def test_texts_are_not_duplicated(messages: list[dict]) -> None:
    texts = Counter(m["text"].strip().lower() for m in messages)
    duplicates = {text: n for text, n in texts.items() if n > 1}
    assert all(len(text) <= 20 for text in duplicates), duplicates
    assert len(duplicates) <= 5, duplicates


def test_file_is_built_from_the_sources(lines: list[str]) -> None:
    from allsang.demo import build

    if not build.SOURCES.is_dir():
        pytest.skip("the hand-written sources are not installed")
    threads = [t for path in sorted(build.SOURCES.glob("*.txt")) for t in build.parse(path)]
    rebuilt = [json.dumps(m, ensure_ascii=False) for m in build.Builder().build(threads)]
    assert rebuilt == lines, "messages.jsonl is stale: run python -m allsang.demo.build"
