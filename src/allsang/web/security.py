"""Cross-origin request protection and security headers, as plain ASGI middleware.

CSRF follows Go 1.25's ``CrossOriginProtection`` (and Datasette after it): browsers say where a
request comes from in ``Sec-Fetch-Site``; unsafe requests from another site are refused. Older
browsers send only ``Origin``, which must then match this server. Requests without either
header are not from a browser form and pass, as do bearer-token API calls (a cross-site page
cannot set an Authorization header).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from allsang import i18n
from allsang.settings import Settings

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class CrossOriginProtection:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.trusted_origin = _origin_of(settings.base_url) if settings.base_url else None

    def allows(self, scope: Scope) -> bool:
        if scope["method"] not in UNSAFE_METHODS:
            return True
        headers = Headers(scope=scope)
        if headers.get("authorization", "").lower().startswith("bearer "):
            return True
        fetch_site = headers.get("sec-fetch-site")
        if fetch_site is not None:
            return fetch_site in ("same-origin", "none")
        origin = headers.get("origin")
        if origin is None:
            return True
        origin = origin.lower()
        if origin == self.trusted_origin:
            return True
        host = headers.get("host", "").lower()
        return bool(host) and urlsplit(origin).netloc == host

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.allows(scope):
            await self.app(scope, receive, send)
            return
        from allsang.web.errors import error_response

        request = Request(scope, receive)
        response = error_response(
            request,
            403,
            i18n.gettext(
                "This form was sent from another site, so it was refused. "
                "Open the page in Allsang and try again."
            ),
        )
        await response(scope, receive, send)


class SecurityHeaders:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.always_https = settings.secure_cookies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = self.always_https or scope.get("scheme") == "https"
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                headers.extend(
                    [
                        (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
                        (b"x-content-type-options", b"nosniff"),
                        (b"referrer-policy", b"same-origin"),
                        (b"x-frame-options", b"DENY"),
                        (b"cross-origin-opener-policy", b"same-origin"),
                    ]
                )
                if https:
                    headers.append(
                        (b"strict-transport-security", b"max-age=63072000; includeSubDomains")
                    )
                if not static and not any(name == b"cache-control" for name, _ in headers):
                    # Pages show personal data; no shared or back-button cache may keep them.
                    headers.append((b"cache-control", b"no-store"))
            await send(message)

        await self.app(scope, receive, send_with_headers)
