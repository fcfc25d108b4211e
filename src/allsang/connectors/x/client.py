"""X API v2 through tweepy's ``AsyncClient``, on a transport of our own.

tweepy builds every request (endpoint paths, parameter names, expansions) and hands it to
``AsyncBaseClient.request(method, route, params, json, user_auth)``, which hard-codes
``https://api.twitter.com``. :class:`XApi` overrides that one method: the request goes to
``base_url`` (configurable, so tests and proxies work) through httpx, the body is read up to a
limit, the rate-limit headers are remembered per endpoint, and failures become the connector's
typed errors. tweepy then parses the JSON as usual (``return_type=dict``).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

import httpx
from tweepy.asynchronous import AsyncClient

from allsang.connectors.base import (
    AuthExpired,
    ConnectorError,
    PermanentError,
    RateLimited,
    TransientError,
)

DEFAULT_BASE_URL = "https://api.twitter.com"
DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRY_AFTER = 60.0
MAX_BODY = 5 * 1024 * 1024
_ID = re.compile(r"/\d{3,}(?=/|$)")  # ids in a route, not the "/2" version


@dataclass(slots=True)
class _Answer:
    """What tweepy's ``_make_request`` reads from a response: its JSON."""

    body: Any

    async def json(self) -> Any:
        return self.body


class XApi(AsyncClient):
    """tweepy's AsyncClient speaking to ``base_url`` with the connector's error handling."""

    def __init__(
        self,
        bearer_token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = DEFAULT_TIMEOUT,
        max_body: int = MAX_BODY,
    ) -> None:
        super().__init__(bearer_token=bearer_token, return_type=dict)
        self.base_url = base_url.rstrip("/")
        self.max_body = max_body
        self.http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout)
        # Per endpoint (ids replaced by ":id"): the epoch second its exhausted window resets.
        self.blocked_until: dict[str, float] = {}

    async def request(  # type: ignore[override]
        self,
        method: str,
        route: str,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
        user_auth: bool = False,
    ) -> _Answer:
        endpoint = f"{method} {_ID.sub('/:id', route)}"
        reset = self.blocked_until.get(endpoint, 0.0)
        if reset > time.time():
            raise RateLimited(
                f"X rate limit for {endpoint} is used up until its reset", reset - time.time()
            )
        headers = {"Authorization": f"Bearer {self.bearer_token}", "User-Agent": self.user_agent}
        try:
            async with self.http.stream(
                method, route, params=params, json=json, headers=headers
            ) as response:
                body = await self._read(response, endpoint)
        except httpx.TimeoutException as exc:
            raise TransientError(f"X did not answer {endpoint} in time") from exc
        except httpx.DecodingError as exc:
            raise TransientError(f"X sent a malformed response to {endpoint}: {exc}") from exc
        except httpx.HTTPError as exc:
            raise TransientError(f"X unreachable for {endpoint}: {exc}") from exc
        self._remember(endpoint, response.headers)
        if response.status_code >= 400:
            raise map_status(response.status_code, response.headers, _detail(body))
        try:
            return _Answer(json_loads(body))
        except ValueError as exc:
            raise TransientError(f"X sent a malformed response to {endpoint}: {exc}") from exc

    async def _read(self, response: httpx.Response, endpoint: str) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body:
            raise TransientError(f"X response to {endpoint} is larger than {self.max_body} B")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self.max_body:
                raise TransientError(f"X response to {endpoint} is larger than {self.max_body} B")
            chunks.append(chunk)
        return b"".join(chunks)

    def _remember(self, endpoint: str, headers: httpx.Headers) -> None:
        remaining, reset = headers.get("x-rate-limit-remaining"), headers.get("x-rate-limit-reset")
        if remaining == "0" and reset and reset.isdigit():
            self.blocked_until[endpoint] = float(reset)
        else:
            self.blocked_until.pop(endpoint, None)

    async def close(self) -> None:
        await self.http.aclose()


def json_loads(body: bytes) -> Any:
    """JSON from bytes; invalid UTF-8 counts as malformed (ValueError)."""
    return json.loads(body.decode("utf-8"))


def _detail(body: bytes) -> str:
    try:
        data = json_loads(body)
    except ValueError:
        return body[:200].decode("utf-8", "replace")
    if isinstance(data, dict):
        errors = data.get("errors")
        first = errors[0] if isinstance(errors, list) and errors else data
        if isinstance(first, dict):
            return str(first.get("detail") or first.get("message") or first.get("title") or "")
    return ""


class Forbidden(PermanentError):
    """X answered 403: the plan, the token's scopes or the other user do not allow this."""


def map_status(status: int, headers: httpx.Headers, detail: str) -> ConnectorError:
    if status == 429:
        return RateLimited(f"X rate limit: {detail or 'Too Many Requests'}", retry_after(headers))
    if status == 401:
        return AuthExpired(f"X refused the token ({detail or 'Unauthorized'}); reconnect")
    if status >= 500:
        return TransientError(f"X answered {status}: {detail}")
    if status == 403:
        return Forbidden(f"X refused the request ({status}: {detail})")
    return PermanentError(f"X refused the request ({status}: {detail})")


def retry_after(headers: httpx.Headers, *, now: float | None = None) -> float:
    """Seconds to wait: ``Retry-After``, else until ``x-rate-limit-reset`` (epoch seconds)."""
    now = time.time() if now is None else now
    value = headers.get("retry-after", "").strip()
    if value.isdigit():
        return float(value)
    reset = headers.get("x-rate-limit-reset", "").strip()
    if reset.isdigit():
        return max(1.0, float(reset) - now)
    return DEFAULT_RETRY_AFTER
