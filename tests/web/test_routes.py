"""Walk every route of the app and prove nobody gets in where they should not.

The routes come from the app itself, so a new route is covered the moment it exists: it must
either refuse viewers and anonymous visitors, or be added to one of the short lists below
(which are checked against the app too, so they cannot go stale).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import Mount

from tests.web.conftest import ClientFactory

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}

# Anybody may use these without logging in.
PUBLIC: set[tuple[str, str]] = {
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/language"),
    ("GET", "/healthz"),
    ("GET", "/metrics"),  # public only while no metrics_token is set (tested in test_health)
    ("GET", "/api/v1/openapi.json"),
}
PUBLIC_MOUNTS = {"/static"}

# Changes a viewer may make: to their own profile and sessions.
VIEWER_MAY_CHANGE: set[tuple[str, str]] = {
    ("POST", "/login"),
    ("POST", "/logout"),
    ("POST", "/language"),
    ("POST", "/profile"),
    ("POST", "/profile/password"),
    ("POST", "/profile/sessions/{session_id}/revoke"),
    # Their own calendar feeds, and sharing a share-ready post from their own account.
    ("POST", "/calendar/feeds"),
    ("POST", "/calendar/feeds/{feed_id}/revoke"),
    ("POST", "/advocacy/{post_id}/share"),
}


def endpoints(app: FastAPI) -> Iterator[tuple[str, str]]:
    for context in iter_route_contexts(app.routes):
        if context.path and not isinstance(context.original_route, Mount):
            for method in sorted((context.methods or set()) - {"HEAD"}):
                yield method, context.path


def concrete(path: str) -> str:
    # Authorisation runs before path parameters are even looked up, so any id will do.
    return re.sub(r"\{[^}]+\}", "1", path)


def test_the_lists_name_only_routes_that_exist(app: FastAPI) -> None:
    existing = set(endpoints(app))
    assert existing >= PUBLIC
    assert existing >= VIEWER_MAY_CHANGE
    mounts = {
        context.path
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, Mount)
    }
    assert mounts == PUBLIC_MOUNTS


def test_every_non_public_route_declares_the_action_it_authorises(app: FastAPI) -> None:
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if (context.methods or set()) and not isinstance(route, APIRoute):
            assert {(m, context.path) for m in context.methods - {"HEAD"}} <= PUBLIC
            continue
        if not isinstance(route, APIRoute):
            continue
        actions = [
            getattr(dependency.call, "action", None) for dependency in route.dependant.dependencies
        ]
        for method in route.methods - {"HEAD"}:
            if (method, context.path) not in PUBLIC:
                assert any(actions), f"{method} {context.path} authorises nothing"


async def test_anonymous_visitors_are_sent_to_log_in_everywhere_else(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    checked = 0
    for method, path in endpoints(app):
        if (method, path) in PUBLIC:
            continue
        response = await client.request(method, concrete(path))
        if path.startswith("/api/"):
            assert response.status_code == 401, (method, path, response.status_code)
        else:
            assert response.status_code == 303, (method, path, response.status_code)
            assert response.headers["location"].startswith("/login?next="), (method, path)
        checked += 1
    assert checked >= 20


async def test_public_routes_answer_anonymous_visitors(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    for method, path in PUBLIC:
        if method == "GET":
            response = await client.get(path)
            assert response.status_code == 200, path
    assert (await client.get("/static/app.css")).status_code == 200
    assert (await client.get("/static/vendor/htmx.min.js")).status_code == 200


async def test_viewers_may_change_nothing_but_their_own_profile(
    app: FastAPI, client_as: ClientFactory
) -> None:
    viewer = await client_as("viewer")
    checked = 0
    for method, path in endpoints(app):
        if method not in UNSAFE or (method, path) in VIEWER_MAY_CHANGE:
            continue
        response = await viewer.request(method, concrete(path))
        assert response.status_code == 403, (method, path, response.status_code)
        checked += 1
    assert checked >= 10
    # The viewer's session survived the walk: no route logged them out or broke it.
    assert (await viewer.get("/")).status_code == 200
