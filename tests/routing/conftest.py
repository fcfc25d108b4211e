"""A workspace with two departments, four people and one Mastodon channel; a pipeline."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from allsang.connectors.base import RawItem
from allsang.db import Database
from allsang.db.models import (
    Channel,
    Department,
    DepartmentMember,
    Membership,
    Person,
    Tag,
    Workspace,
)
from allsang.ingest.message import NormalisedMessage
from allsang.ingest.pipeline import ChannelRef, Enrichment, Pipeline


@dataclass
class Place:
    workspace_id: int
    channel: ChannelRef
    other_channel: ChannelRef
    support: int  # department ids
    sales: int
    people: dict[str, int]  # name -> person id; ada, bo, cy in support, dag in sales
    tag: int


@pytest.fixture
async def place(db: Database) -> Place:
    async with db.write() as session:
        workspace = Workspace(slug="acme", name="Acme", timezone="Europe/Stockholm")
        session.add(workspace)
        await session.flush()
        channels = [
            Channel(workspace_id=workspace.id, network="mastodon", name="@acme@example.social"),
            Channel(workspace_id=workspace.id, network="bluesky", name="acme.bsky.social"),
        ]
        support = Department(workspace_id=workspace.id, name="Support")
        sales = Department(workspace_id=workspace.id, name="Sales")
        tag = Tag(workspace_id=workspace.id, name="vip")
        session.add_all([*channels, support, sales, tag])
        await session.flush()
        people: dict[str, int] = {}
        staff = [("ada", support), ("bo", support), ("cy", support), ("dag", sales)]
        for name, department in staff:
            person = Person(email=f"{name}@acme.test", name=name.title())
            session.add(person)
            await session.flush()
            session.add(Membership(workspace_id=workspace.id, person_id=person.id, role="editor"))
            session.add(DepartmentMember(department_id=department.id, person_id=person.id))
            people[name] = person.id
        return Place(
            workspace_id=workspace.id,
            channel=ChannelRef(channels[0].id, workspace.id, "mastodon"),
            other_channel=ChannelRef(channels[1].id, workspace.id, "bluesky"),
            support=support.id,
            sales=sales.id,
            people=people,
            tag=tag.id,
        )


class Sentiment:
    """An enricher standing in for the listening model: negative when the text says so."""

    def __call__(self, messages: Sequence[NormalisedMessage]) -> list[Enrichment]:
        return [
            Enrichment(
                lang=m.lang or "sv",
                sentiment="neg" if "arg" in m.text else "neu",
                sentiment_score=-0.9 if "arg" in m.text else 0.0,
            )
            for m in messages
        ]


@pytest.fixture
def pipeline(db: Database) -> Pipeline:
    return Pipeline(db, enrichers=[Sentiment()])


def dm(
    external_id: str, text: str, *, handle: str = "@kari@example.social", **fields: Any
) -> RawItem:
    return RawItem(
        {
            "channel": "mastodon",
            "external_id": external_id,
            "kind": "dm",
            "author": {"handle": handle, "name": "Kari"},
            "text": text,
            "created_at": "2026-12-07T09:00:00+01:00",
            **fields,
        }
    )
