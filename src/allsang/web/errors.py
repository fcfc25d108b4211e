"""Errors: RFC 9457 problem JSON for the API, friendly pages for people.

A refused anonymous visitor is sent to the login page (HTML) or told 401 (API); a refused
logged-in person gets 403. The locale is already set when the viewer was resolved; errors
raised before that (unknown URL, CSRF) fall back to the browser's language.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, RedirectResponse, Response

from allsang import i18n
from allsang.authz import ANONYMOUS, Forbidden
from allsang.web.templating import render
from allsang.web.viewer import Viewer, apply_locale

log = logging.getLogger(__name__)

PROBLEM_TYPE = "about:blank"


class PageError(Exception):
    """An error with a message for people, raised by endpoints (404 for a missing row, …)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def problem(
    status: int, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = {
        "type": PROBLEM_TYPE,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        **extra,
    }
    return JSONResponse(
        body, status_code=status, headers=headers, media_type="application/problem+json"
    )


_TITLES = {
    400: i18n.N_("That request could not be understood"),
    401: i18n.N_("Please log in"),
    403: i18n.N_("You do not have access to this"),
    404: i18n.N_("Page not found"),
    405: i18n.N_("That is not possible here"),
    409: i18n.N_("That conflicts with the current state"),
    422: i18n.N_("Some fields need attention"),
    429: i18n.N_("Too many attempts"),
    500: i18n.N_("Something went wrong on our side"),
    503: i18n.N_("The service is unavailable"),
}


def error_page(request: Request, status: int, detail: str = "") -> Response:
    if getattr(request.state, "viewer", None) is None:
        apply_locale(request, Viewer(actor=ANONYMOUS))
    title = i18n.gettext(_TITLES.get(status, _TITLES[500 if status >= 500 else 400]))
    return render(
        request,
        "error.html",
        {"status": status, "title": title, "detail": detail},
        status_code=status,
    )


def error_response(request: Request, status: int, detail: str) -> Response:
    if wants_json(request):
        return problem(status, detail)
    return error_page(request, status, detail)


async def _forbidden(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Forbidden)
    if not exc.actor.is_authenticated:
        if wants_json(request):
            return problem(
                401,
                "A valid bearer token is needed.",
                headers={"WWW-Authenticate": 'Bearer realm="allsang"'},
            )
        # After logging in the browser GETs ``next``: only a page it was reading makes sense.
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            target = "/"
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    if wants_json(request):
        return problem(403, f"Your role does not allow {exc.action}.")
    return error_page(request, 403, i18n.gettext("Ask an administrator if you need it."))


async def _page_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageError)
    return error_response(request, exc.status, exc.detail)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if wants_json(request):
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        return problem(exc.status_code, detail, headers=exc.headers)
    response = error_page(request, exc.status_code)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": [str(part) for part in error.get("loc", ())], "msg": error.get("msg", "")}
        for error in exc.errors()
    ]
    if wants_json(request):
        return problem(422, "The request has invalid or missing fields.", errors=errors)
    fields = ", ".join(error["loc"][-1] for error in errors if error["loc"])
    return error_page(request, 422, fields)


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    if wants_json(request):
        return problem(500, "An unexpected error occurred; it has been logged.")
    return error_page(request, 500, i18n.gettext("The error has been logged."))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Forbidden, _forbidden)
    app.add_exception_handler(PageError, _page_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _server_error)
