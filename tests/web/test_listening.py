"""Listening pages: permissions, saving queries, live syntax check, test with highlighting,
volume and share of voice on a hand-built set of messages."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select

from allsang.db.models import AuditEvent, ListeningQuery, Message
from allsang.db.types import utcnow
from allsang.listening.store import highlight
from allsang.runtime import Runtime
from tests.web.conftest import ClientFactory, World


async def add_messages(
    runtime: Runtime, world: World, rows: list[tuple[str, int, str, float]]
) -> None:
    """(text, days ago, sentiment label, sentiment score) — inbound, in the workspace."""
    now = utcnow()
    async with runtime.db.write() as session:
        for n, (text, days_ago, label, score) in enumerate(rows):
            session.add(
                Message(
                    workspace_id=world.workspace.id,
                    direction="inbound",
                    external_id=f"m{n}",
                    text=text,
                    lang="sv",
                    sentiment=label,
                    sentiment_score=score,
                    created_at=now - timedelta(days=days_ago, minutes=n),
                )
            )


async def saved(runtime: Runtime) -> list[ListeningQuery]:
    async with runtime.db.read() as session:
        return list(await session.scalars(select(ListeningQuery)))


async def test_viewers_see_the_pages_but_only_editors_manage_queries(
    client_as: ClientFactory,
) -> None:
    viewer, editor, contributor = (
        await client_as("viewer"),
        await client_as("editor"),
        await client_as("contributor"),
    )
    assert (await viewer.get("/listening")).status_code == 200
    assert 'href="/listening"' in (await viewer.get("/")).text
    assert (await viewer.get("/listening/new")).status_code == 403
    refused = await contributor.post("/listening/new", data={"name": "x", "query": "volvo"})
    assert refused.status_code == 403
    page = await editor.get("/listening/new")
    assert page.status_code == 200 and 'hx-get="/listening/check"' in page.text


async def test_a_valid_query_is_saved_and_audited(
    client_as: ClientFactory, runtime: Runtime
) -> None:
    editor = await client_as("editor")
    response = await editor.post(
        "/listening/new", data={"name": "Volvo", "query": 'volvo NEAR/3 "xc 90"', "fold": "true"}
    )
    assert response.status_code == 303
    [row] = await saved(runtime)
    assert response.headers["location"] == f"/listening/{row.id}?ok=saved"
    assert (row.name, row.fold, row.active) == ("Volvo", True, True)
    async with runtime.db.read() as session:
        actions = list(await session.scalars(select(AuditEvent.action)))
    assert "listening.query.create" in actions
    page = await editor.get(f"/listening/{row.id}")
    assert page.status_code == 200 and "Volvo" in page.text


async def test_an_invalid_query_is_refused_with_its_position_and_nothing_is_saved(
    client_as: ClientFactory, runtime: Runtime
) -> None:
    editor = await client_as("editor")
    response = await editor.post(
        "/listening/new", data={"name": "Bad", "query": "volvo NEAR/ saab"}
    )
    assert response.status_code == 422
    assert "at column 12" in response.text and 'aria-invalid="true"' in response.text
    assert "\n" + " " * 11 + "^</pre>" in response.text  # the caret under column 12
    assert await saved(runtime) == []


async def test_an_edit_to_an_invalid_query_leaves_the_saved_one_untouched(
    client_as: ClientFactory, runtime: Runtime
) -> None:
    editor = await client_as("editor")
    await editor.post("/listening/new", data={"name": "Volvo", "query": "volvo"})
    [row] = await saved(runtime)
    response = await editor.post(
        f"/listening/{row.id}/edit", data={"name": "Renamed", "query": '"open', "active": "true"}
    )
    assert response.status_code == 422
    [after] = await saved(runtime)
    assert (after.name, after.query) == ("Volvo", "volvo")
    await editor.post(
        f"/listening/{row.id}/edit", data={"name": "Renamed", "query": "volvo OR saab"}
    )
    [after] = await saved(runtime)
    assert (after.name, after.query, after.active) == ("Renamed", "volvo OR saab", False)


async def test_names_must_be_unique_in_the_workspace(client_as: ClientFactory) -> None:
    editor = await client_as("editor")
    await editor.post("/listening/new", data={"name": "Volvo", "query": "volvo"})
    again = await editor.post("/listening/new", data={"name": "volvo", "query": "saab"})
    assert again.status_code == 422 and "already has this name" in again.text


async def test_the_live_check_returns_ok_or_the_error_with_a_caret(
    client_as: ClientFactory,
) -> None:
    viewer = await client_as("viewer")
    ok = await viewer.get("/listening/check", params={"query": "volvo AND saab"})
    assert ok.status_code == 200 and "OK" in ok.text and "<html" not in ok.text
    broken = await viewer.get("/listening/check", params={"query": '"volvo'})
    assert broken.status_code == 200
    caret = re.search(r'<pre class="query-caret"[^>]*>(.*)\n( *\^)</pre>', broken.text)
    assert caret is not None and "column" in broken.text
    column = int(re.search(r"at column (\d+)", broken.text).group(1))  # type: ignore[union-attr]
    assert len(caret.group(2)) == column


async def test_testing_a_query_highlights_hits_and_keeps_message_html_inert(
    client_as: ClientFactory, runtime: Runtime, world: World
) -> None:
    await add_messages(
        runtime,
        world,
        [
            ("<script>alert('x')</script> Volvo är bäst", 0, "pos", 0.8),
            ('Min <b>volvo</b> "startar" inte & saab', 1, "neg", -0.7),
            ("Inget om bilar här", 1, "neu", 0.0),
        ],
    )
    viewer = await client_as("viewer")
    response = await viewer.get("/listening/test", params={"query": "volvo -bilar"})
    text = response.text
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "<b>" not in text and "&lt;b&gt;" in text
    assert "<mark>Volvo</mark>" in text and "<mark>volvo</mark>" in text
    assert "Inget om bilar" not in text
    assert "2 matches" in text


def test_highlighting_marks_positive_terms_only_and_escapes_the_rest() -> None:
    marked = highlight('Volvo & "Saab" <i>xc90</i> #volvo', "(volvo OR xc9*) NOT saab")
    assert str(marked) == (
        "<mark>Volvo</mark> &amp; &#34;Saab&#34; &lt;i&gt;<mark>xc90</mark>&lt;/i&gt; "
        "<mark>#volvo</mark>"
    )


async def test_volume_and_share_of_voice_are_counted_from_stored_messages(
    client_as: ClientFactory, runtime: Runtime, world: World
) -> None:
    await add_messages(
        runtime,
        world,
        [
            ("volvo bra", 0, "pos", 0.6),
            ("volvo dålig", 0, "neg", -0.8),
            ("volvo ok", 2, "neu", 0.1),
            ("saab bra", 2, "pos", 0.5),
            ("volvo och saab", 3, "neu", 0.0),
            ("volvo för länge sedan", 40, "neg", -0.9),
        ],
    )
    editor = await client_as("editor")
    await editor.post("/listening/new", data={"name": "Volvo", "query": "volvo"})
    await editor.post("/listening/new", data={"name": "Saab", "query": "saab"})
    volvo = next(r for r in await saved(runtime) if r.name == "Volvo")
    page = (await editor.get(f"/listening/{volvo.id}")).text
    assert "4 matches in total." in page
    rows = re.findall(
        r"<tr><td>[^<]+</td><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td>", page
    )
    assert len(rows) == 14
    assert rows[-1] == ("2", "1", "0", "1")  # today: one positive, one negative
    assert sum(int(r[0]) for r in rows) == 4
    assert "<svg" in page and "<rect" in page
    home = (await editor.get("/listening")).text
    assert re.search(r"<td>Volvo</td><td>4</td><td>66\.7 %</td>", home)
    assert re.search(r"<td>Saab</td><td>2</td><td>33\.3 %</td>", home)


async def test_deleting_a_query_removes_it(client_as: ClientFactory, runtime: Runtime) -> None:
    editor = await client_as("editor")
    await editor.post("/listening/new", data={"name": "Volvo", "query": "volvo"})
    [row] = await saved(runtime)
    response = await editor.post(f"/listening/{row.id}/delete")
    assert response.status_code == 303
    assert await saved(runtime) == []
    assert (await editor.get(f"/listening/{row.id}")).status_code == 404
    async with runtime.db.read() as session:
        assert await session.scalar(select(func.count(ListeningQuery.id))) == 0
