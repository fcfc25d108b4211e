"""The inbox in Chromium: two people in two browser contexts see each other's changes live,
a reply goes out through a fake Mastodon instance and is threaded in, a viewer cannot reply,
and the inbox pages pass axe."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from werkzeug import Request as WerkzeugRequest
from werkzeug import Response as WerkzeugResponse

from allsang.channels import seal_credentials
from allsang.db.models import Channel, Conversation, Message
from allsang.settings import Settings
from tests.inbox.seed import seed
from tests.web.browser import AppServer, log_in, run_async, runtime_for, serious_violations
from tests.web.conftest import create_world

pytestmark = pytest.mark.browser

STATUS = Path("/work/shared/data/payloads/mastodon-docs/entities/Status.json")


class FakeMastodon:
    """Answers what the connector's reply asks: the parent status, then the new status."""

    def __init__(self, httpserver: HTTPServer) -> None:
        self.template = json.loads(STATUS.read_text())
        self.posted: list[dict[str, Any]] = []
        httpserver.expect_request("/api/v1/statuses/100", method="GET").respond_with_json(
            self._status("100", "Hej! Var kan jag hitta öppettiderna i jul?", "anna")
        )
        httpserver.expect_request("/api/v1/statuses", method="POST").respond_with_handler(
            self._post
        )

    def _status(self, status_id: str, text: str, acct: str) -> dict[str, Any]:
        status = copy.deepcopy(self.template)
        status.update(
            id=status_id, content=f"<p>{text}</p>", url=f"https://example/@{acct}/{status_id}"
        )
        status["account"] = {**status["account"], "acct": acct, "username": acct}
        status["mentions"] = []
        return status

    def _post(self, request: WerkzeugRequest) -> WerkzeugResponse:
        form = request.get_json(silent=True) or request.form.to_dict()
        self.posted.append(dict(form))
        body = self._status("9001", str(form.get("status", "")), "acme")
        body["in_reply_to_id"] = form.get("in_reply_to_id")
        return WerkzeugResponse(json.dumps(body), status=200, content_type="application/json")


async def _seed(settings: Settings, instance: str) -> int:
    async with runtime_for(settings) as runtime:
        world = await create_world(runtime)
        seeded = await seed(runtime.db, world.workspace.id)
        async with runtime.db.write() as session:
            channel = await session.get(Channel, seeded.channel.id)
            assert channel is not None
            channel.config = {"instance": instance}
            channel.account = "@acme@" + instance.split("://")[1]
            channel.credentials = seal_credentials(runtime.secrets, {"access_token": "t0ken"})
        return seeded.conversations[0].id


@pytest.fixture
def served(settings: Settings, httpserver: HTTPServer) -> Iterator[tuple[str, int, FakeMastodon]]:
    fake = FakeMastodon(httpserver)
    conversation_id = run_async(_seed(settings, httpserver.url_for("").rstrip("/")))
    with AppServer(settings) as app:
        yield app.url, conversation_id, fake


def test_two_people_see_each_others_changes_live_and_a_reply_goes_out_threaded(
    served: tuple[str, int, FakeMastodon], settings: Settings, browser: Browser
) -> None:
    server, conversation_id, fake = served
    editor = log_in(browser, server, "editor@acme.test")
    contributor = log_in(browser, server, "contributor@acme.test")
    problems: list[str] = []

    editor.goto(f"{server}/inbox")
    row = editor.locator(f"#conversation-{conversation_id}")
    expect(row).to_contain_text("Unassigned")
    problems += serious_violations(editor)
    expect(editor.locator("body[data-live=open]")).to_have_count(1)

    # The contributor assigns it to themselves with the keyboard: j moves, a assigns.
    contributor.goto(f"{server}/inbox")
    expect(contributor.locator("body[data-live=open]")).to_have_count(1)
    for _ in range(3):
        contributor.keyboard.press("j")
    expect(contributor.locator(f"#conversation-{conversation_id}.current")).to_have_count(1)
    contributor.keyboard.press("a")
    expect(contributor.locator(f"#conversation-{conversation_id}")).to_contain_text(
        "Contributor Person"
    )
    # ... and the editor's list shows it without a reload.
    expect(row).to_contain_text("Contributor Person", timeout=5000)

    # Both open the conversation: each sees the other there.
    editor.goto(f"{server}/inbox/{conversation_id}")
    contributor.goto(f"{server}/inbox/{conversation_id}")
    expect(editor.locator("#presence")).to_contain_text("Contributor Person")
    problems += serious_violations(contributor)

    # The counter counts down Mastodon's 500 characters as the contributor types.
    box = contributor.get_by_label("Reply on mastodon as")
    box.fill("God jul! Vi har öppet 10–14 på julafton.")
    expect(contributor.locator("#reply-count")).to_have_text("460 characters left")
    contributor.get_by_role("button", name="Send reply").click()
    expect(contributor.locator(".message.outbound")).to_contain_text("God jul! Vi har öppet")
    # The editor's open page gets the reply and the cleared waiting time live.
    expect(editor.locator(".message.outbound")).to_contain_text("God jul!", timeout=5000)
    problems += serious_violations(editor)

    assert fake.posted and fake.posted[0]["in_reply_to_id"] == "100"
    assert "God jul! Vi har öppet 10–14 på julafton." in fake.posted[0]["status"]
    stored = run_async(_reply_row(settings))
    assert stored == ("outbound", conversation_id, "9001", None)
    assert problems == []


async def _reply_row(settings: Settings) -> tuple[str, int | None, str | None, object]:
    async with runtime_for(settings) as runtime, runtime.db.read() as session:
        message = await session.scalar(select(Message).where(Message.direction == "outbound"))
        assert message is not None
        conversation = await session.get(Conversation, message.conversation_id)
        assert conversation is not None
        return (
            message.direction,
            message.conversation_id,
            message.external_id,
            conversation.waiting_since,
        )


def test_a_viewer_reads_the_inbox_but_gets_no_reply_box(
    served: tuple[str, int, FakeMastodon], browser: Browser
) -> None:
    server, conversation_id, fake = served
    viewer = log_in(browser, server, "viewer@acme.test")
    viewer.goto(f"{server}/inbox/{conversation_id}")
    expect(viewer.locator(".message.inbound")).to_contain_text("öppettiderna")
    expect(viewer.get_by_role("button", name="Send reply")).to_have_count(0)
    problems = serious_violations(viewer)
    status = viewer.evaluate(
        """async (id) => (await fetch(`/inbox/${id}/reply`, {method: 'POST',
            body: new URLSearchParams({text: 'hi'})})).status""",
        conversation_id,
    )
    assert status == 403
    assert fake.posted == []
    assert problems == []
