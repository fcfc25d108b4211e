"""Listening pages: saved queries with live syntax feedback, a test against recent messages,
volume and sentiment over time per query, and share of voice between queries.

The syntax check and the test are GET fragments for htmx (they change nothing, so viewers may
use them too); charts are server-side SVG with the same figures in a table under each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from babel.dates import format_date
from fastapi import APIRouter, Depends, Form, Query, Request
from starlette.responses import Response

from allsang import audit, i18n
from allsang.db.models import ListeningQuery
from allsang.db.types import utcnow
from allsang.listening import store
from allsang.listening.query import QuerySyntaxError, compile_queries
from allsang.listening.query.parser import MAX_LENGTH
from allsang.web.errors import PageError
from allsang.web.routes import redirect
from allsang.web.templating import render
from allsang.web.viewer import Viewer, client_ip, require, runtime_of

router = APIRouter(prefix="/listening")

WINDOW_DAYS = 14
TEST_MESSAGES = 500  # newest messages a test looks through
TEST_HITS = 50  # hits shown
CHART_WIDTH, CHART_HEIGHT, CHART_PAD = 640, 200, 32


@dataclass(frozen=True, slots=True)
class SyntaxProblem:
    reason: str
    column: int
    line_text: str
    caret: str


def _problem(query: str, error: QuerySyntaxError) -> SyntaxProblem:
    # The caret points into the query as typed; columns are 1-based and may be one past the
    # end ("needs a closing quote at the end").
    shown = query.replace("\n", " ").replace("\t", " ")
    return SyntaxProblem(error.reason, error.column, shown, " " * (error.column - 1) + "^")


def _workspace_id(viewer: Viewer) -> int:
    workspace_id = viewer.actor.workspace_id
    assert workspace_id is not None
    return workspace_id


def _timezone(viewer: Viewer) -> str:
    return viewer.workspace.timezone if viewer.workspace else "UTC"


async def _load(request: Request, viewer: Viewer, query_id: int) -> ListeningQuery:
    async with runtime_of(request).db.read() as session:
        row = await store.get_query(session, _workspace_id(viewer), query_id)
    if row is None:
        raise PageError(404, i18n.gettext("There is no such query."))
    return row


# --- charts ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    baseline: float
    top_label: str
    line: str  # SVG polyline points of the mean sentiment, "" if none


def _volume_chart(counts: list[int], sentiment: list[float | None], labels: list[str]) -> Chart:
    """Bars of daily volume and a line of mean sentiment (−1 at the bottom, +1 at the top)."""
    top = max(counts, default=0) or 1
    inner_w = CHART_WIDTH - 2 * CHART_PAD
    inner_h = CHART_HEIGHT - 2 * CHART_PAD
    slot = inner_w / max(len(counts), 1)
    bars = []
    for n, count in enumerate(counts):
        height = inner_h * count / top
        bars.append(
            Bar(
                x=round(CHART_PAD + n * slot + slot * 0.1, 1),
                y=round(CHART_PAD + inner_h - height, 1),
                width=round(slot * 0.8, 1),
                height=round(height, 1),
                label=labels[n],
            )
        )
    points = [
        f"{CHART_PAD + n * slot + slot / 2:.1f},{CHART_PAD + inner_h * (1 - (s + 1) / 2):.1f}"
        for n, s in enumerate(sentiment)
        if s is not None
    ]
    return Chart(
        CHART_WIDTH,
        CHART_HEIGHT,
        bars,
        CHART_PAD + inner_h,
        i18n.format_number(top),
        " ".join(points),
    )


@dataclass(frozen=True, slots=True)
class Share:
    name: str
    query_id: int
    total: int
    share: float
    width: float


def _shares(rows: list[ListeningQuery], result: store.Volume) -> list[Share]:
    shares = result.share_of_voice()
    inner = CHART_WIDTH - 2 * CHART_PAD
    return [
        Share(
            row.name,
            row.id,
            result.total(str(row.id)),
            shares[str(row.id)],
            round(inner * shares[str(row.id)], 1),
        )
        for row in rows
    ]


# --- pages ----------------------------------------------------------------------------------


@router.get("")
async def listening_home(
    request: Request, viewer: Annotated[Viewer, Depends(require("listening.view"))]
) -> Response:
    workspace_id = _workspace_id(viewer)
    async with runtime_of(request).db.read() as session:
        rows = await store.list_queries(session, workspace_id)
        active = [r for r in rows if r.active]
        result = await store.volume(
            session,
            workspace_id,
            [(str(r.id), r.query, r.fold) for r in active],
            end=utcnow(),
            days=WINDOW_DAYS,
            timezone=_timezone(viewer),
        )
    return render(
        request,
        "listening/index.html",
        {
            "queries": rows,
            "totals": {r.id: result.total(str(r.id)) for r in active},
            "shares": _shares(active, result),
            "result": result,
            "days": WINDOW_DAYS,
            "chart_width": CHART_WIDTH,
            "pad": CHART_PAD,
            "section": "listening",
        },
    )


def _form(
    request: Request,
    *,
    row: ListeningQuery | None,
    name: str,
    query: str,
    fold: bool,
    active: bool,
    errors: dict[str, str] | None = None,
    problem: SyntaxProblem | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "listening/form.html",
        {
            "row": row,
            "name": name,
            "query": query,
            "fold": fold,
            "active": active,
            "errors": errors or {},
            "problem": problem,
            "max_length": MAX_LENGTH,
            "section": "listening",
        },
        status_code=status_code,
    )


@router.get("/new")
async def new_query_page(
    request: Request, viewer: Annotated[Viewer, Depends(require("listening.manage"))]
) -> Response:
    return _form(request, row=None, name="", query="", fold=False, active=True)


async def _save(
    request: Request,
    viewer: Viewer,
    row: ListeningQuery | None,
    name: str,
    query: str,
    fold: bool,
    active: bool,
) -> Response:
    workspace_id = _workspace_id(viewer)

    def again(errors: dict[str, str], problem: SyntaxProblem | None = None) -> Response:
        return _form(
            request,
            row=row,
            name=name,
            query=query,
            fold=fold,
            active=active,
            errors=errors,
            problem=problem,
            status_code=422,
        )

    try:
        async with runtime_of(request).db.write() as session:
            existing = None
            if row is not None:
                existing = await store.get_query(session, workspace_id, row.id)
                if existing is None:
                    raise PageError(404, i18n.gettext("There is no such query."))
            saved = await store.save_query(
                session,
                workspace_id,
                name=name,
                query=query,
                fold=fold,
                active=active,
                person_id=viewer.actor.person_id,
                existing=existing,
            )
            audit.record(
                session,
                viewer.actor,
                "listening.query.update" if row else "listening.query.create",
                "listening_query",
                saved.id,
                ip=client_ip(request),
                name=saved.name,
            )
            saved_id = saved.id
    except QuerySyntaxError as exc:
        message = i18n.gettext("The query cannot be used: %(reason)s at column %(column)s.") % {
            "reason": exc.reason,
            "column": exc.column,
        }
        return again({"query": message}, _problem(query, exc))
    except store.InvalidName as exc:
        if str(exc) == "taken":
            return again({"name": i18n.gettext("Another query already has this name.")})
        return again({"name": i18n.gettext("Enter a name of at most 200 characters.")})
    return redirect(f"/listening/{saved_id}", ok="saved")


@router.post("/new")
async def create_query(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("listening.manage"))],
    name: Annotated[str, Form(max_length=1000)] = "",
    query: Annotated[str, Form(max_length=MAX_LENGTH * 2)] = "",
    fold: Annotated[bool, Form()] = False,
) -> Response:
    return await _save(request, viewer, None, name, query, fold, True)


@router.get("/check")
async def check_fragment(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("listening.view"))],
    query: Annotated[str, Query(max_length=MAX_LENGTH * 2)] = "",
    fold: Annotated[bool, Query()] = False,
) -> Response:
    error = store.check_query(query, fold) if query.strip() else None
    return render(
        request,
        "listening/_check.html",
        {
            "empty": not query.strip(),
            "problem": _problem(query, error) if error else None,
        },
    )


@router.get("/test")
async def test_fragment(
    request: Request,
    viewer: Annotated[Viewer, Depends(require("listening.view"))],
    query: Annotated[str, Query(max_length=MAX_LENGTH * 2)] = "",
    fold: Annotated[bool, Query()] = False,
) -> Response:
    error = store.check_query(query, fold) if query.strip() else None
    hits: list[tuple[object, object]] = []
    examined = 0
    if query.strip() and error is None:
        compiled = compile_queries([("q", query)], fold=fold)
        async with runtime_of(request).db.read() as session:
            messages = await store.recent_messages(
                session, _workspace_id(viewer), limit=TEST_MESSAGES
            )
        examined = len(messages)
        for message in messages:
            if compiled.match(store.query_message(message)):
                hits.append((message, store.highlight(message.text, query, fold)))
                if len(hits) == TEST_HITS:
                    break
    return render(
        request,
        "listening/_test.html",
        {
            "empty": not query.strip(),
            "problem": _problem(query, error) if error else None,
            "hits": hits,
            "examined": examined,
            "limit": TEST_HITS,
        },
    )


@router.get("/{query_id}")
async def query_page(
    request: Request,
    query_id: int,
    viewer: Annotated[Viewer, Depends(require("listening.view"))],
) -> Response:
    row = await _load(request, viewer, query_id)
    async with runtime_of(request).db.read() as session:
        result = await store.volume(
            session,
            _workspace_id(viewer),
            [(str(row.id), row.query, row.fold)],
            end=utcnow(),
            days=WINDOW_DAYS,
            timezone=_timezone(viewer),
        )
    figures = result.per_query[str(row.id)]
    labels = [format_date(d, format="short", locale=i18n.current_locale()) for d in result.days]
    chart = _volume_chart([f.count for f in figures], [f.mean_sentiment for f in figures], labels)
    return render(
        request,
        "listening/query.html",
        {
            "row": row,
            "figures": list(zip(labels, figures, strict=True)),
            "chart": chart,
            "result": result,
            "total": result.total(str(row.id)),
            "days": WINDOW_DAYS,
            "section": "listening",
        },
    )


@router.get("/{query_id}/edit")
async def edit_query_page(
    request: Request,
    query_id: int,
    viewer: Annotated[Viewer, Depends(require("listening.manage"))],
) -> Response:
    row = await _load(request, viewer, query_id)
    return _form(request, row=row, name=row.name, query=row.query, fold=row.fold, active=row.active)


@router.post("/{query_id}/edit")
async def update_query(
    request: Request,
    query_id: int,
    viewer: Annotated[Viewer, Depends(require("listening.manage"))],
    name: Annotated[str, Form(max_length=1000)] = "",
    query: Annotated[str, Form(max_length=MAX_LENGTH * 2)] = "",
    fold: Annotated[bool, Form()] = False,
    active: Annotated[bool, Form()] = False,
) -> Response:
    row = await _load(request, viewer, query_id)
    return await _save(request, viewer, row, name, query, fold, active)


@router.post("/{query_id}/delete")
async def delete_query(
    request: Request,
    query_id: int,
    viewer: Annotated[Viewer, Depends(require("listening.manage"))],
) -> Response:
    async with runtime_of(request).db.write() as session:
        row = await store.get_query(session, _workspace_id(viewer), query_id)
        if row is None:
            raise PageError(404, i18n.gettext("There is no such query."))
        audit.record(
            session,
            viewer.actor,
            "listening.query.delete",
            "listening_query",
            row.id,
            ip=client_ip(request),
            name=row.name,
        )
        await session.delete(row)
    return redirect("/listening", ok="deleted")
