"""The analytics page, its exports and the scheduled-report settings, through HTTP."""

from __future__ import annotations

import csv
import io

from openpyxl import load_workbook

from allsang.analytics import aggregate
from allsang.db.models import Person, Workspace
from allsang.runtime import Runtime
from tests.analytics.history import known_history
from tests.web.conftest import ClientFactory, World

PERIOD = "first=2026-03-01&last=2026-03-07"


async def _history(runtime: Runtime, world: World) -> None:
    async with runtime.db.write() as session:
        workspace = await session.get(Workspace, world.workspace.id)
        await known_history(session, workspace)
    await aggregate.refresh(runtime.db, world.workspace.id)


async def test_a_viewer_sees_every_table_of_the_period(
    runtime: Runtime, world: World, client_as: ClientFactory
) -> None:
    await _history(runtime, world)
    client = await client_as("viewer")
    page = await client.get(f"/analytics?{PERIOD}")
    assert page.status_code == 200
    html = page.text
    for key in (
        "dialogue_channel",
        "dialogue_department",
        "response_person",
        "volume",
        "sentiment",
        "languages",
        "posts_channel",
        "spread_channel",
        "spread_trend",
    ):
        assert f'id="t-{key}"' in html, key
    assert 'data-chart="bar" data-table="t-dialogue_channel"' in html
    assert "Mastodon" in html and "66.7 %" in html  # the reply rate of the worked example
    assert "/analytics/reports" not in html  # a viewer cannot schedule reports


async def test_the_page_is_translated(
    runtime: Runtime, world: World, client_as: ClientFactory
) -> None:
    await _history(runtime, world)
    async with runtime.db.write() as session:
        person = await session.get(Person, world.people["viewer"].id)
        assert person is not None
        person.locale = "sv"
    client = await client_as("viewer")
    page = await client.get(f"/analytics?{PERIOD}")
    assert "Svarsfrekvens" in page.text and "Reply rate" not in page.text


async def test_a_csv_export_parses_back_to_the_figures(
    runtime: Runtime, world: World, client_as: ClientFactory
) -> None:
    await _history(runtime, world)
    client = await client_as("viewer")
    response = await client.get(f"/analytics/export.csv?table=volume&{PERIOD}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["Day", "From the audience", "Replies", "Broadcasts"]
    assert rows[2] == ["2026-03-02", "5", "4", "3"]
    assert len(rows) == 1 + 7
    missing = await client.get(f"/analytics/export.csv?table=nope&{PERIOD}")
    assert missing.status_code == 404


async def test_an_xlsx_export_has_a_sheet_per_table_with_numbers(
    runtime: Runtime, world: World, client_as: ClientFactory
) -> None:
    await _history(runtime, world)
    client = await client_as("viewer")
    response = await client.get(f"/analytics/export.xlsx?{PERIOD}")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames[0] == "Summary"
    assert "Dialogue by channel" in book.sheetnames
    sheet = book["Dialogue by channel"]
    header = [c.value for c in sheet[1]]
    values = {
        row[0]: dict(zip(header, row, strict=True))
        for row in sheet.iter_rows(min_row=2, values_only=True)
    }
    assert values["Mastodon"]["Reply rate"] == 0.5
    assert values["E-mail"]["Replies"] == 2


async def test_only_admins_schedule_reports(
    runtime: Runtime, world: World, client_as: ClientFactory
) -> None:
    editor = await client_as("editor")
    assert (await editor.get("/analytics/reports")).status_code == 403
    admin = await client_as("admin")
    bad = await admin.post(
        "/analytics/reports", data={"recipients": "nobody", "frequency": "weekly"}
    )
    assert bad.status_code == 422
    ok = await admin.post(
        "/analytics/reports",
        data={"recipients": "a@example.org, b@example.org", "frequency": "monthly", "locale": "sv"},
    )
    assert ok.status_code == 303
    page = await admin.get("/analytics/reports")
    assert "a@example.org, b@example.org" in page.text
