"""Talking to a Mastodon instance: REST through Mastodon.py, the streaming API through httpx.

Mastodon.py is synchronous (``requests``), so every REST call runs in a worker thread through
:func:`asyncio.to_thread`, and its exceptions are mapped to the connector's typed errors *in
that thread*, where the headers of the failed response are still at hand (a 429 needs its
``Retry-After``; Mastodon.py's own exception does not carry it).

The user stream is read with httpx rather than Mastodon.py's streaming, whose reader runs in a
thread of its own that cannot be cancelled from asyncio.
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import httpx
import requests
from mastodon import Mastodon
from mastodon.errors import (
    MastodonAPIError,
    MastodonError,
    MastodonIllegalArgumentError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
    MastodonVersionError,
)

from allsang.connectors.base import (
    AuthExpired,
    ConnectorError,
    PermanentError,
    RateLimited,
    TransientError,
)
from allsang.connectors.common import retry_after

T = TypeVar("T")

DEFAULT_TIMEOUT = 30.0
# Pinning a version keeps Mastodon.py from asking the instance for it before some calls; the
# "created" check mode is what makes Mastodon.py read the pinned version at all (every
# endpoint used here is far older).
ASSUMED_VERSION = "4.3.0"
USER_AGENT = "Allsang (+https://github.com/allsang)"


def plain(value: Any) -> Any:
    """Mastodon.py's typed entities as plain JSON values (datetimes as ISO strings)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def map_status(status: int, headers: Mapping[str, str], detail: str = "") -> ConnectorError:
    """The typed error for an HTTP error status."""
    suffix = f": {detail}" if detail else ""
    if status in (401, 403):
        return AuthExpired(f"Mastodon refused the access token (HTTP {status}){suffix}")
    if status == 429:
        return RateLimited(f"Mastodon rate limit reached{suffix}", retry_after(headers))
    if status >= 500 or status in (408, 425):
        return TransientError(f"Mastodon server error (HTTP {status}){suffix}")
    return PermanentError(f"Mastodon rejected the request (HTTP {status}){suffix}")


@dataclass(frozen=True, slots=True)
class StreamEvent:
    event: str
    data: str


class MastodonClient:
    """One instance and one access token. Methods return plain JSON values."""

    def __init__(
        self,
        instance_url: str,
        access_token: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        streaming_url: str | None = None,
    ) -> None:
        self.instance_url = instance_url.rstrip("/")
        self.streaming_url = (streaming_url or self.instance_url).rstrip("/")
        self.timeout = timeout
        self._token = access_token
        self._local = threading.local()
        session = requests.Session()
        session.hooks["response"].append(self._remember)
        self._api = Mastodon(
            access_token=access_token,
            api_base_url=self.instance_url,
            ratelimit_method="throw",
            request_timeout=timeout,
            mastodon_version=ASSUMED_VERSION,
            version_check_mode="created",
            session=session,
            user_agent=USER_AGENT,
        )

    def _remember(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._local.headers = dict(response.headers)
        self._local.error = _server_error(response) if response.status_code >= 400 else ""

    async def _call(self, fn: Callable[[], T]) -> T:
        return await asyncio.to_thread(self._guarded, fn)

    def _guarded(self, fn: Callable[[], T]) -> T:
        self._local.headers = {}
        self._local.error = ""
        try:
            return fn()
        except MastodonError as exc:
            raise self._mapped(exc) from exc

    def _mapped(self, exc: MastodonError) -> ConnectorError:
        headers: dict[str, str] = getattr(self._local, "headers", {}) or {}
        detail = getattr(self._local, "error", "") or _detail(exc)
        if isinstance(exc, MastodonRatelimitError):
            return RateLimited("Mastodon rate limit reached", retry_after(headers))
        if isinstance(exc, MastodonUnauthorizedError):
            return AuthExpired(f"Mastodon refused the access token: {detail}")
        if isinstance(exc, MastodonNotFoundError):
            return PermanentError(f"not found on Mastodon: {detail}")
        if isinstance(exc, MastodonServerError | MastodonNetworkError):
            return TransientError(f"Mastodon unreachable: {_detail(exc)}")
        if isinstance(exc, MastodonIllegalArgumentError | MastodonVersionError):
            return PermanentError(f"invalid Mastodon request: {exc}")
        if isinstance(exc, MastodonAPIError):
            status = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else None
            if status is None:
                # A 2xx whose body is not JSON: a proxy's error page, a cut-off response.
                return TransientError(f"Mastodon sent a malformed response: {str(exc)[:300]}")
            return map_status(status, headers, detail)
        return TransientError(f"Mastodon error: {exc}")

    async def verify_credentials(self) -> dict[str, Any]:
        return plain(await self._call(self._api.account_verify_credentials))

    async def notifications(
        self, *, min_id: str | None, limit: int, types: list[str]
    ) -> list[dict[str, Any]]:
        return plain(
            await self._call(
                lambda: self._api.notifications(min_id=min_id, limit=limit, types=types)
            )
        )

    async def hashtag(self, tag: str, *, min_id: str | None, limit: int) -> list[dict[str, Any]]:
        return plain(
            await self._call(lambda: self._api.timeline_hashtag(tag, min_id=min_id, limit=limit))
        )

    async def search_statuses(
        self, query: str, *, min_id: str | None, limit: int
    ) -> list[dict[str, Any]]:
        found = await self._call(
            lambda: self._api.search_v2(
                query, resolve=False, result_type="statuses", min_id=min_id, limit=limit
            )
        )
        return plain(found.get("statuses") or [])

    async def status(self, status_id: str) -> dict[str, Any]:
        return plain(await self._call(lambda: self._api.status(status_id)))

    async def post(
        self,
        text: str,
        *,
        visibility: str | None = None,
        in_reply_to_id: str | None = None,
        idempotency_key: str | None = None,
        media_ids: list[str] | None = None,
    ) -> dict[str, Any]:
        return plain(
            await self._call(
                lambda: self._api.status_post(
                    text,
                    in_reply_to_id=in_reply_to_id,
                    visibility=visibility,
                    idempotency_key=idempotency_key,
                    media_ids=media_ids or None,
                )
            )
        )

    async def upload_media(
        self, content: bytes, *, mime_type: str, description: str, file_name: str
    ) -> dict[str, Any]:
        """``POST /api/v2/media``. The answer's ``url`` is None while the instance is still
        processing the file (HTTP 202); see :meth:`media`."""

        def upload() -> Any:
            return self._api.media_post(
                io.BytesIO(content),
                mime_type=mime_type,
                description=description or None,
                file_name=file_name,
            )

        return plain(await self._call(upload))

    async def media(self, media_id: str) -> dict[str, Any]:
        """``GET /api/v1/media/:id``: ``url`` is set once the file is processed."""
        return plain(await self._call(lambda: self._api.media(media_id)))

    async def stream(self, path: str = "/api/v1/streaming/user") -> AsyncIterator[StreamEvent]:
        """Server-sent events of one stream, as they come; heartbeats as ``StreamEvent("", "")``
        so callers can look at the clock between events.

        Raises the typed errors: an error status on opening, :class:`TransientError` when the
        connection fails or is dropped (the caller resumes from its REST cursor).
        """
        timeout = httpx.Timeout(self.timeout, read=max(self.timeout, 90.0))
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Accept": "text/event-stream",
            "User-Agent": USER_AGENT,
        }
        try:
            async with (
                httpx.AsyncClient(timeout=timeout) as http,
                http.stream("GET", self.streaming_url + path, headers=headers) as response,
            ):
                if response.status_code >= 400:
                    await response.aread()
                    raise map_status(response.status_code, response.headers, response.text[:300])
                event, data = "", []
                async for line in response.aiter_lines():
                    if line.startswith(":"):
                        yield StreamEvent("", "")
                    elif line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].removeprefix(" "))
                    elif not line and (event or data):
                        yield StreamEvent(event or "message", "\n".join(data))
                        event, data = "", []
        except httpx.TimeoutException as exc:
            raise TransientError(f"Mastodon stream timed out: {type(exc).__name__}") from exc
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            raise TransientError(f"Mastodon stream interrupted: {reason}") from exc


def _server_error(response: requests.Response) -> str:
    """The ``error`` a Mastodon error body gives, in its own words."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict):
        return str(body.get("error_description") or body.get("error") or "")
    return ""


def _detail(exc: MastodonError) -> str:
    """The server's own words (``error`` of the body), else the HTTP reason."""
    args = exc.args
    if len(args) >= 4 and isinstance(args[1], int):
        return str(args[3] or args[2] or args[1])
    return str(exc)
