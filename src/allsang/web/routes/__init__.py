"""Route modules; each exposes ``router``."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.responses import RedirectResponse


def safe_next(target: str | None, default: str = "/") -> str:
    """Only paths on this site: a ``next`` of ``//evil.example`` must not redirect away."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    return target


def redirect(url: str, *, ok: str | None = None) -> RedirectResponse:
    if ok:
        url = f"{url}{'&' if '?' in url else '?'}{urlencode({'ok': ok})}"
    return RedirectResponse(url, status_code=303)
