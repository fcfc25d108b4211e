"""The application factory: ``create_app(runtime)`` returns the ASGI app the CLI serves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from allsang import i18n
from allsang.runtime import Runtime
from allsang.web.errors import install_error_handlers
from allsang.web.metrics import Metrics, MetricsMiddleware, RouteTemplates
from allsang.web.routes import (
    admin,
    alerts,
    analytics,
    api,
    auth,
    calendar,
    channels,
    continuity,
    display,
    health,
    home,
    inbox,
    inbox_workflow,
    listening,
    messages_api,
    privacy_api,
    profile,
    publishing,
    quarantine,
    routing,
    team,
    walls,
    workspace,
)
from allsang.web.security import CrossOriginProtection, SecurityHeaders
from allsang.web.templating import STATIC_DIR, build_templates

API_PREFIX = "/api/v1"


def create_app(runtime: Runtime) -> FastAPI:
    """Build the web app on an open runtime (the caller owns the runtime's lifetime)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Compile every catalog before the first request: a broken .po fails start-up.
        i18n.load_catalogs()
        yield

    app = FastAPI(
        title="Allsang API",
        version="1",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.templates = build_templates()
    app.state.templates.env.globals.update(routing.TEMPLATE_GLOBALS)
    app.state.metrics = Metrics()

    install_error_handlers(app)
    for module in (
        auth,
        home,
        inbox_workflow,  # before inbox: /inbox/approvals is not /inbox/{id}
        inbox,
        profile,
        team,
        routing,
        channels,
        continuity,
        quarantine,
        listening,
        walls,
        analytics,
        publishing,
        calendar,
        display,
        alerts,
        workspace,
        admin,
        health,
    ):
        app.include_router(module.router, include_in_schema=False)
    app.include_router(api.router, prefix=API_PREFIX)
    app.include_router(messages_api.router, prefix=API_PREFIX)
    app.include_router(privacy_api.router, prefix=API_PREFIX)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    # Added last = outermost: metrics see every response, headers go on every response,
    # and a cross-site POST is refused before any route runs.
    app.add_middleware(CrossOriginProtection, settings=runtime.settings)
    app.add_middleware(SecurityHeaders, settings=runtime.settings)
    app.add_middleware(
        MetricsMiddleware, metrics=app.state.metrics, templates=RouteTemplates(app.routes)
    )
    return app
