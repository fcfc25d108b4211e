"""Talking to Bluesky: Jetstream over ``websockets``, XRPC through the atproto SDK.

:class:`Jetstream` opens one subscription and yields its frames as they came (text or bytes);
decoding is left to the connector so a bad frame can be quarantined instead of killing the
stream. :class:`Xrpc` wraps ``atproto.AsyncClient``: raw queries (their JSON is what the
pipeline stores), posting, and the mapping of the SDK's exceptions to the connector's typed
errors. Every response body goes through :class:`LimitedTransport`, so a server that answers
with megabytes cannot fill the memory of the ingest process.

Direct messages live on Bluesky's chat service, not in the account's repository: ``chat.bsky.*``
calls go to the PDS with the ``atproto-proxy: did:web:api.bsky.chat#bsky_chat`` header (the
SDK's ``with_bsky_chat_proxy()`` clone, which shares the session), and the PDS forwards them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any, Self, TypeVar
from urllib.parse import urlencode

import httpx
import websockets
from atproto import AsyncClient, SessionEvent, models
from atproto_client.exceptions import (
    AtProtocolError,
    BadRequestError,
    NetworkError,
    RateLimitExceededError,
    RequestErrorBase,
    UnauthorizedError,
)
from atproto_client.models.common import XrpcError
from atproto_client.models.dot_dict import DotDict
from atproto_client.models.utils import get_response_model
from atproto_client.request import AsyncRequest
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from allsang.connectors.base import (
    AuthExpired,
    ConnectorError,
    PermanentError,
    RateLimited,
    TransientError,
)
from allsang.connectors.bluesky.auth import BlueskyCredentials, jwt_expiry
from allsang.connectors.bluesky.normalise import POST_COLLECTION

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_JETSTREAM = "wss://jetstream2.us-east.bsky.network/subscribe"
DEFAULT_SERVICE = "https://bsky.social"
DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRY_AFTER = 60.0
MAX_BODY = 5 * 1024 * 1024  # the largest XRPC response read; real pages are tens of kB
MAX_FRAME = 1024 * 1024  # Jetstream events are single records, far below this
# After a refused frame, the next connection alone takes frames this many times bigger, so the
# stream gets past it (it is quarantined downstream) instead of refusing it on every retry.
OVERSIZE_ROOM = 16


class ResponseTooLarge(Exception):
    """A response body went past the configured limit (raised while it is read)."""


class _LimitedStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, limit: int, url: str) -> None:
        self._inner, self._limit, self._url = inner, limit, url

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in self._inner:
            seen += len(chunk)
            if seen > self._limit:
                raise ResponseTooLarge(f"response from {self._url} is larger than {self._limit} B")
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class LimitedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that refuses bodies over ``limit`` bytes, declared or streamed."""

    def __init__(self, limit: int, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.limit = limit
        self._inner = inner or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        url = f"{request.url.host}{request.url.path}"
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            await response.aclose()
            raise ResponseTooLarge(f"response from {url} is larger than {self.limit} B")
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_LimitedStream(response.stream, self.limit, url),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


# -- Jetstream -------------------------------------------------------------------------------


def jetstream_url(base: str, *, cursor: int | None, wanted_dids: Iterable[str] = ()) -> str:
    """The subscription URL: posts only, from ``cursor`` (inclusive) when one is given."""
    query: list[tuple[str, str]] = [("wantedCollections", POST_COLLECTION)]
    query += [("wantedDids", did) for did in wanted_dids]
    if cursor is not None:
        query.append(("cursor", str(cursor)))
    return f"{base}{'&' if '?' in base else '?'}{urlencode(query)}"


class Jetstream:
    """One Jetstream subscription. Iterating yields raw frames until the server closes the
    connection; a failure to connect raises :class:`TransientError`, a connection lost
    mid-stream raises :class:`StreamDropped` so the caller can resume from its cursor.

    A frame over ``max_frame`` is refused (:class:`TransientError`); the next connection then
    takes frames up to :data:`OVERSIZE_ROOM` times that size, once, so the stream gets past it.
    A frame over even that is refused every time, and the channel shows it failing."""

    def __init__(
        self,
        url: str = DEFAULT_JETSTREAM,
        *,
        wanted_dids: Iterable[str] = (),
        max_frame: int = MAX_FRAME,
        open_timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.url = url
        self.wanted_dids = list(wanted_dids)
        self.max_frame = max_frame
        self.open_timeout = open_timeout
        self._room = max_frame  # the next connection's limit

    async def frames(self, cursor: int | None) -> AsyncIterator[str | bytes]:
        url = jetstream_url(self.url, cursor=cursor, wanted_dids=self.wanted_dids)
        room, self._room = self._room, self.max_frame
        try:
            connection = await websockets.connect(
                url, max_size=room, open_timeout=self.open_timeout, compression=None
            )
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            raise TransientError(f"cannot open Jetstream at {self.url}: {exc}") from exc
        except InvalidURI as exc:
            raise PermanentError(f"not a Jetstream URL: {self.url}") from exc
        async with connection:
            try:
                async for frame in connection:
                    yield frame
            except ConnectionClosed as exc:
                if exc.rcvd is None and exc.sent is not None and exc.sent.code == 1009:
                    if room == self.max_frame:
                        self._room = self.max_frame * OVERSIZE_ROOM
                    raise TransientError(
                        f"Jetstream sent a frame larger than {room} B; it was refused"
                    ) from exc
                raise StreamDropped(f"Jetstream connection lost: {exc}") from exc


class StreamDropped(TransientError):
    """The stream broke after it was open: resume from the cursor."""


# -- XRPC ------------------------------------------------------------------------------------


class _PinnedClient(AsyncClient):
    """The SDK's client, optionally kept on its configured service: by default the SDK moves to
    the PDS named in the session's DID document, which a proxy or a test server must not."""

    def __init__(self, base_url: str, *, request: AsyncRequest, follow_pds: bool = True) -> None:
        # The SDK's clone() calls this with base_url and request only; _inherit_clone_state
        # then copies follow_pds from the original.
        super().__init__(base_url, request=request)
        self._follow_pds = follow_pds

    def _inherit_clone_state(self, original: Self) -> None:
        super()._inherit_clone_state(original)
        self._follow_pds = original._follow_pds

    def _update_pds_endpoint(self, pds_endpoint: str) -> None:
        if self._follow_pds:
            super()._update_pds_endpoint(pds_endpoint)


class Xrpc:
    """XRPC calls for one account, with typed errors and one session refresh on expiry."""

    def __init__(
        self,
        service: str = DEFAULT_SERVICE,
        credentials: BlueskyCredentials | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_body: int = MAX_BODY,
        follow_pds: bool = True,
    ) -> None:
        self.service = service.rstrip("/")
        self.credentials = credentials
        request = AsyncRequest(timeout=timeout, transport=LimitedTransport(max_body))
        self.sdk = _PinnedClient(self.service, follow_pds=follow_pds, request=request)
        self.sdk.on_session_change(self._session_changed)
        self._chat: _PinnedClient | None = None
        self.did = ""
        self.handle = ""
        self.token_expires_at: datetime | None = None

    async def _session_changed(self, event: SessionEvent, session: Any) -> None:
        self.did, self.handle = session.did, session.handle
        self.token_expires_at = jwt_expiry(session.access_jwt)

    @property
    def logged_in(self) -> bool:
        return bool(self.did)

    async def login(self) -> None:
        """``createSession`` with the app password; a refused password raises AuthExpired."""
        if self.credentials is None:
            raise PermanentError("this Bluesky channel has no handle and app password")
        creds = self.credentials
        await self._mapped(
            lambda: self.sdk.login(creds.handle, creds.app_password, fetch_bsky_profile=False)
        )

    @property
    def chat(self) -> AsyncClient:
        """The SDK client for ``chat.bsky.*``: this session, proxied to Bluesky's chat service.

        Made on first use, which :meth:`call` puts after the login, so it is cloned with the
        base URL the login settled on (the account's PDS, or the pinned service)."""
        if self._chat is None:
            self._chat = self.sdk.with_bsky_chat_proxy()
        return self._chat

    async def query(
        self, nsid: str, params: dict[str, Any], *, chat: bool = False
    ) -> dict[str, Any]:
        """One XRPC query's JSON body (through the chat proxy when ``chat``)."""
        response = await self.call(
            lambda: (self.chat if chat else self.sdk).invoke_query(nsid, params=DotDict(params))
        )
        if not isinstance(response.content, dict):
            raise TransientError(f"{nsid} answered with something that is not a JSON object")
        return response.content

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run one SDK call; on an expired token refresh the session (or log in again) and
        retry once, and raise AuthExpired when that fails too."""
        if not self.logged_in and self.credentials is not None:
            await self.login()
        try:
            return await self._mapped(fn)
        except _TokenExpired:
            await self._renew()
            try:
                return await self._mapped(fn)
            except _TokenExpired as exc:
                raise AuthExpired("Bluesky keeps refusing the renewed session") from exc

    async def _renew(self) -> None:
        try:
            # The SDK's own refresh (refreshSession with the refresh JWT): cheaper than a new
            # login, and createSession has a small daily budget.
            await self._mapped(self.sdk._refresh_and_set_session)
        except (_TokenExpired, AuthExpired, AtProtocolError):
            log.info("Bluesky refresh for %s failed; logging in again", self.handle)
            try:
                await self.login()
            except _TokenExpired as exc:
                raise AuthExpired(
                    "Bluesky refused the app password; reconnect the channel"
                ) from exc

    async def _mapped(self, fn: Callable[[], Awaitable[T]]) -> T:
        try:
            return await fn()
        except ResponseTooLarge as exc:
            raise TransientError(f"Bluesky: {exc}; refused") from exc
        except RequestErrorBase as exc:
            raise map_error(exc) from exc
        except (ValueError, AtProtocolError) as exc:  # a body the SDK could not parse
            raise TransientError(f"Bluesky sent a malformed response: {exc}") from exc
        except httpx.HTTPError as exc:
            raise TransientError(f"Bluesky request failed: {exc}") from exc

    async def close(self) -> None:
        if self._chat is not None:
            await self._chat.request.close()
        await self.sdk.request.close()

    # -- the calls the connector uses -----------------------------------------------------

    async def get_posts(self, uris: list[str]) -> list[dict[str, Any]]:
        body = await self.query("app.bsky.feed.getPosts", {"uris": uris})
        return [p for p in body.get("posts") or [] if isinstance(p, dict)]

    async def send_post(
        self,
        text: str,
        *,
        reply_to: dict[str, Any] | None = None,
        embed: models.AppBskyEmbedImages.Main | None = None,
    ) -> Any:
        """``createRecord`` of a post in the account's repo; ``reply_to`` is the parent's
        post view (its ``uri``, ``cid`` and, for the thread's root, its ``record.reply``)."""
        reply = _reply_ref(reply_to) if reply_to is not None else None
        if not self.logged_in:
            await self.login()
        return await self.call(
            lambda: self.sdk.send_post(text, profile_identify=self.did, reply_to=reply, embed=embed)
        )

    async def upload_blob(self, content: bytes, mime_type: str) -> models.BlobRef:
        """``com.atproto.repo.uploadBlob`` with the file's own type; the blob reference to
        embed (the PDS deletes blobs no record references after a while)."""
        if not self.logged_in:
            await self.login()

        async def upload() -> Any:
            response = await self.sdk.invoke_procedure(
                "com.atproto.repo.uploadBlob",
                data=content,
                input_encoding=mime_type,
                output_encoding="application/json",
            )
            return get_response_model(response, models.ComAtprotoRepoUploadBlob.Response)

        return (await self.call(upload)).blob

    async def resolve_did(self, actor: str) -> str:
        """The DID of a handle (``com.atproto.identity.resolveHandle``); a DID is returned as is."""
        actor = actor.strip().removeprefix("@")
        if actor.startswith("did:"):
            return actor
        body = await self.query("com.atproto.identity.resolveHandle", {"handle": actor})
        did = body.get("did")
        if not isinstance(did, str) or not did.startswith("did:"):
            raise TransientError(f"Bluesky resolved {actor} to no DID")
        return did

    async def convo_with(self, did: str) -> models.ChatBskyConvoDefs.ConvoView | None:
        """The one-to-one conversation with ``did``: the existing one, else a new one
        (``getConvoForMembers`` opens it); ``None`` when they do not accept messages from
        this account (their chat setting, a block)."""
        available = await self.call(
            lambda: self.chat.chat.bsky.convo.get_convo_availability(
                models.ChatBskyConvoGetConvoAvailability.Params(members=[did])
            )
        )
        if not available.can_chat:
            return None
        if available.convo is not None:
            return available.convo
        found = await self.call(
            lambda: self.chat.chat.bsky.convo.get_convo_for_members(
                models.ChatBskyConvoGetConvoForMembers.Params(members=[self.did, did])
            )
        )
        return found.convo

    async def send_message(self, convo_id: str, text: str) -> models.ChatBskyConvoDefs.MessageView:
        """``chat.bsky.convo.sendMessage``: ``text`` into the conversation ``convo_id``."""
        data = models.ChatBskyConvoSendMessage.Data(
            convo_id=convo_id, message=models.ChatBskyConvoDefs.MessageInput(text=text)
        )
        return await self.call(lambda: self.chat.chat.bsky.convo.send_message(data))


class _TokenExpired(ConnectorError):
    """The server said the access token expired: renew and try again."""


class ChatNotAllowed(PermanentError):
    """The app password was made without access to direct messages: the chat service refuses
    every ``chat.bsky.*`` call until the channel is reconnected with one that has it."""


def _reply_ref(parent: dict[str, Any]) -> models.AppBskyFeedPost.ReplyRef:
    parent_ref = models.ComAtprotoRepoStrongRef.Main(uri=parent["uri"], cid=parent["cid"])
    record = parent.get("record") or {}
    root = (record.get("reply") or {}).get("root") if isinstance(record, dict) else None
    root_ref = (
        models.ComAtprotoRepoStrongRef.Main(uri=root["uri"], cid=root["cid"])
        if isinstance(root, dict) and root.get("uri") and root.get("cid")
        else parent_ref
    )
    return models.AppBskyFeedPost.ReplyRef(root=root_ref, parent=parent_ref)


def map_error(exc: RequestErrorBase) -> ConnectorError:
    """The typed connector error for one SDK error."""
    response = exc.response
    if response is None:  # transport failure: refused connection, timeout, reset
        cause = exc.__cause__ or exc
        return TransientError(f"Bluesky unreachable: {type(cause).__name__}: {cause}")
    status = response.status_code
    content = response.content
    code = content.error if isinstance(content, XrpcError) else ""
    detail = f"{code}: {content.message}" if isinstance(content, XrpcError) else str(status)
    if code == "ExpiredToken":
        return _TokenExpired(detail)
    # "Bad token scope" (later "Bad token method"): an app password without the direct
    # messages box ticked; everything else the account does still works.
    if code == "InvalidToken" and "bad token" in detail.lower():
        return ChatNotAllowed(
            "Bluesky refused direct messages for this app password: create one with "
            "'Allow access to your direct messages' and reconnect the channel"
        )
    if isinstance(exc, RateLimitExceededError) or status == 429:
        return RateLimited(f"Bluesky rate limit: {detail}", retry_after(response.headers))
    if isinstance(exc, UnauthorizedError):
        return AuthExpired(f"Bluesky refused the credentials ({detail}); reconnect the channel")
    if status >= 500 or isinstance(exc, NetworkError):
        return TransientError(f"Bluesky answered {status}: {detail}")
    if isinstance(exc, BadRequestError) or 400 <= status < 500:
        return PermanentError(f"Bluesky refused the request ({status} {detail})")
    return TransientError(f"Bluesky answered {status}: {detail}")


def retry_after(headers: dict[str, str], *, now: float | None = None) -> float:
    """Seconds to wait: ``Retry-After`` (seconds), else ``RateLimit-Reset`` (epoch seconds)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    now = time.time() if now is None else now
    value = lowered.get("retry-after", "")
    if value.strip().isdigit():
        return float(value)
    reset = lowered.get("ratelimit-reset", "")
    if reset.strip().isdigit():
        return max(1.0, float(reset) - now)
    return DEFAULT_RETRY_AFTER
