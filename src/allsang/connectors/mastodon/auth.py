"""Mastodon credentials and the OAuth flow that obtains them.

A channel's credentials are ``{"access_token": "…"}``; its configuration names the instance
(``config["instance"]``, e.g. ``"mastodon.social"`` or ``"https://mastodon.social"``).
Mastodon access tokens do not expire; a revoked one answers 401, which the client raises as
:class:`AuthExpired`.

Connecting an account from the web interface takes three calls, each a plain function of the
instance URL and what the previous step returned (no state is kept here):

1. :func:`register_app` — ``POST /api/v1/apps`` once per instance; keep the
   :class:`OAuthApp` (its secret encrypted like any credential).
2. :func:`authorize_url` — where to send the person, with a random ``state``.
3. :func:`exchange_code` — ``POST /oauth/token`` with the code the instance redirected back
   with; returns the access token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from allsang.connectors.base import PermanentError, TransientError
from allsang.connectors.mastodon.client import map_status

SCOPES = ("read", "write")
OUT_OF_BAND = "urn:ietf:wg:oauth:2.0:oob"


@dataclass(frozen=True, slots=True)
class MastodonCredentials:
    access_token: str

    @classmethod
    def from_dict(cls, credentials: dict[str, Any]) -> MastodonCredentials:
        token = credentials.get("access_token")
        if not isinstance(token, str) or not token.strip():
            raise PermanentError("Mastodon channel has no access_token in its credentials")
        return cls(access_token=token.strip())


def instance_url(instance: str) -> str:
    """``https://host`` for ``host``, ``@user@host`` or a URL (a given scheme is kept, so
    tests can use ``http://127.0.0.1:port``)."""
    value = (instance or "").strip().rstrip("/")
    if not value:
        raise PermanentError("Mastodon channel has no instance configured")
    if "://" not in value:
        value = "https://" + value.rsplit("@", 1)[-1]
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PermanentError(f"not an instance URL: {instance!r}")
    return value


def instance_host(url: str) -> str:
    """The host (with a port, when one is given) that qualifies local account handles."""
    return urlsplit(url).netloc


@dataclass(frozen=True, slots=True)
class OAuthApp:
    instance: str
    client_id: str
    client_secret: str
    redirect_uri: str
    scopes: tuple[str, ...] = SCOPES


async def register_app(
    instance: str,
    *,
    client_name: str,
    redirect_uri: str = OUT_OF_BAND,
    website: str | None = None,
    scopes: tuple[str, ...] = SCOPES,
    request_timeout: float = 30.0,
) -> OAuthApp:
    """Register Allsang as an OAuth application on the instance."""
    base = instance_url(instance)
    form = {"client_name": client_name, "redirect_uris": redirect_uri, "scopes": " ".join(scopes)}
    if website:
        form["website"] = website
    body = await _post_form(f"{base}/api/v1/apps", form, request_timeout)
    try:
        return OAuthApp(
            instance=base,
            client_id=str(body["client_id"]),
            client_secret=str(body["client_secret"]),
            redirect_uri=redirect_uri,
            scopes=scopes,
        )
    except KeyError as exc:
        raise PermanentError(f"the instance did not return {exc.args[0]}") from None


def authorize_url(app: OAuthApp, *, state: str, force_login: bool = False) -> str:
    """The instance's page where a person grants Allsang access (no network call)."""
    query = {
        "client_id": app.client_id,
        "response_type": "code",
        "redirect_uri": app.redirect_uri,
        "scope": " ".join(app.scopes),
        "state": state,
    }
    if force_login:
        query["force_login"] = "true"
    return f"{app.instance}/oauth/authorize?{urlencode(query)}"


async def exchange_code(app: OAuthApp, code: str, *, request_timeout: float = 30.0) -> str:
    """Trade the authorization code for an access token."""
    body = await _post_form(
        f"{app.instance}/oauth/token",
        {
            "grant_type": "authorization_code",
            "code": code,
            "client_id": app.client_id,
            "client_secret": app.client_secret,
            "redirect_uri": app.redirect_uri,
            "scope": " ".join(app.scopes),
        },
        request_timeout,
    )
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise PermanentError("the instance did not return an access token")
    return token


async def _post_form(url: str, form: dict[str, str], request_timeout: float) -> dict[str, Any]:
    try:
        async with httpx.AsyncClient(timeout=request_timeout) as http:
            response = await http.post(url, data=form)
    except httpx.HTTPError as exc:
        raise TransientError(f"cannot reach {url}: {exc or type(exc).__name__}") from exc
    if response.status_code >= 400:
        raise map_status(response.status_code, response.headers, _error_text(response))
    try:
        body = response.json()
    except ValueError:
        raise TransientError(f"{url} did not answer with JSON") from None
    if not isinstance(body, dict):
        raise TransientError(f"{url} did not answer with a JSON object")
    return body


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("error_description") or body.get("error") or "")
    return ""
