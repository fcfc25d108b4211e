"""The listening enricher: what it fills, awkward text, and a real pipeline into the database."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from allsang.connectors.base import RawItem
from allsang.db import Database
from allsang.db.models import Channel, Workspace
from allsang.db.models import Message as StoredMessage
from allsang.ingest.message import NormalisedMessage, validate_message
from allsang.ingest.pipeline import ChannelRef, Pipeline
from allsang.listening.enrich import ListeningEnricher, normalise_lang
from allsang.listening.query import QuerySet

QUERIES = QuerySet(
    [
        ("volvo", "volvo OR #volvo"),
        ("volvo-neg", "volvo sentiment:neg"),
        ("danish", "lang:da"),
        ("kari", "author:kari@example.social"),
    ]
)


def payload(external_id: str, text: str, **fields: Any) -> dict[str, Any]:
    return {
        "channel": "mastodon",
        "external_id": external_id,
        "author": {"handle": "kari@example.social", "name": "Kari"},
        "text": text,
        "created_at": "2026-11-20T10:00:00+01:00",
        **fields,
    }


def message(text: str, **fields: Any) -> NormalisedMessage:
    return validate_message(payload("1", text, **fields))


def test_it_detects_language_and_sentiment_and_lists_matching_queries() -> None:
    [result] = ListeningEnricher(QUERIES)(
        [message("Jeg er virkelig skuffet over min nye Volvo, hvad skal jeg gøre? Den er elendig")]
    )
    assert result.lang == "da"
    assert result.sentiment == "neg"
    assert result.sentiment_score is not None and result.sentiment_score < 0
    assert result.extra["lang_source"] == "detected"
    assert 0.0 < result.extra["lang_confidence"] <= 1.0
    assert result.extra["matches"] == ["volvo", "volvo-neg", "danish", "kari"]


def test_it_keeps_the_connector_language_but_writes_bokmal_as_nb() -> None:
    enricher = ListeningEnricher()
    results = enricher(
        [message("Dette er helt greit", lang="no"), message("Tack så mycket!", lang="sv-SE")]
    )
    assert [r.lang for r in results] == ["nb", "sv"]
    assert all(r.extra == {"lang_confidence": 1.0, "lang_source": "connector"} for r in results)


@pytest.mark.parametrize(
    ("tag", "normal"),
    [("no", "nb"), ("NB-no", "nb"), ("nn_NO", "nn"), ("de", "de"), ("", None), (None, None)],
)
def test_language_tags_are_normalised(tag: str | None, normal: str | None) -> None:
    assert normalise_lang(tag) == normal


@pytest.mark.parametrize(
    "text",
    [
        "",
        "🔥" * 100_000,
        "\x00\x01\x1b[31m control \x7f",
        "bad \udcff surrogate",
        "a" * 100_000,
        "volvo " * 16_000,
    ],
    ids=["empty", "emoji", "controls", "surrogate", "one-long-word", "repeats"],
)
def test_awkward_text_is_analysed_without_raising(text: str) -> None:
    # Past validation on purpose: the enricher must cope even with what validation cleans.
    raw = message("placeholder").model_copy(update={"text": text})
    [result] = ListeningEnricher(QUERIES)([raw])
    assert "enrich_error" not in result.extra
    assert result.sentiment in ("pos", "neu", "neg")
    assert result.lang is not None


def test_a_failing_message_is_marked_and_the_batch_goes_on() -> None:
    class Broken:
        def predict(self, text: str, lang: str | None) -> None:
            raise RuntimeError("model exploded")

    enricher = ListeningEnricher(model=Broken())  # type: ignore[arg-type]
    results = enricher([message("boom"), message("bang")])
    assert [r.extra for r in results] == [{"enrich_error": "RuntimeError: model exploded"}] * 2


@pytest.fixture
async def channel(db: Database) -> ChannelRef:
    async with db.write() as session:
        workspace = Workspace(slug="acme", name="Acme")
        session.add(workspace)
        await session.flush()
        row = Channel(workspace_id=workspace.id, network="mastodon", name="@acme@example.social")
        session.add(row)
        await session.flush()
        return ChannelRef(id=row.id, workspace_id=workspace.id, network="mastodon")


async def test_the_pipeline_stores_what_the_enricher_found(
    db: Database, channel: ChannelRef
) -> None:
    items = [
        RawItem(payload("1", "Min Volvo är helt fantastisk, bästa bilen jag haft!")),
        RawItem(payload("2", "Det var ikke godt, virkelig dårlig service", lang="da")),
        RawItem(payload("3", "🔥" * 50_000)),
    ]
    result = await Pipeline(db, enrichers=[ListeningEnricher(QUERIES)]).ingest(channel, items)
    assert result.summary() == {"accepted": 3, "duplicates": 0, "quarantined": 0}
    async with db.read() as session:
        stored = list(await session.scalars(select(StoredMessage).order_by(StoredMessage.id)))
    assert [(m.lang, m.sentiment) for m in stored] == [
        ("sv", "pos"),
        ("da", "neg"),
        ("other", "pos"),
    ]
    assert all(-1.0 <= (m.sentiment_score or 0.0) <= 1.0 for m in stored)
    assert stored[0].extra["matches"] == ["volvo", "kari"]
    assert stored[1].extra["matches"] == ["danish", "kari"]
    assert stored[1].extra["lang_source"] == "connector"
    assert stored[2].extra["lang_confidence"] == 0.0
