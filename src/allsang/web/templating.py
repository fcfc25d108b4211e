"""Jinja2 templates with the i18n extension and Babel formatting filters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from allsang import i18n
from allsang.authz import ROLE_NAMES
from allsang.web.viewer import Viewer

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

# Role names as people read them; the stored values stay English identifiers.
ROLE_LABELS: dict[str, str] = {
    "owner": i18n.N_("Owner"),
    "admin": i18n.N_("Administrator"),
    "editor": i18n.N_("Editor"),
    "contributor": i18n.N_("Contributor"),
    "viewer": i18n.N_("Viewer"),
    "display": i18n.N_("Display screen"),
}


# Confirmations after a redirect, named by a key in the URL (``?ok=saved``) so that reloading
# the page shows the message again instead of re-sending the form.
FLASH: dict[str, str] = {
    "saved": i18n.N_("Saved."),
    "password": i18n.N_("Your password was changed. Your other sessions were logged out."),
    "revoked": i18n.N_("The session was logged out."),
    "created": i18n.N_("Created."),
    "deleted": i18n.N_("Deleted."),
    "retried": i18n.N_("The job was queued again."),
    "reply_held": i18n.N_("Your reply waits for an editor's approval."),
    "reply_approved": i18n.N_("Approved and sent."),
    "reply_rejected": i18n.N_("The reply was rejected."),
    "snoozed": i18n.N_("Snoozed."),
}


def role_label(role: str | None) -> str:
    return i18n.gettext(ROLE_LABELS[role]) if role in ROLE_LABELS else (role or "")


def _static_version() -> str:
    # Changes whenever a packaged asset changes, so browsers never keep a stale stylesheet.
    newest = max(p.stat().st_mtime_ns for p in STATIC_DIR.rglob("*") if p.is_file())
    return format(newest % 0xFFFFFFFF, "x")


def build_templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        i18n.gettext, i18n.ngettext, newstyle=True
    )
    env.filters["datetime"] = i18n.format_datetime
    env.filters["number"] = i18n.format_number
    env.filters["role"] = role_label
    version = _static_version()
    env.globals["static"] = lambda path: f"/static/{path}?v={version}"
    env.globals["LANGUAGE_NAMES"] = i18n.LANGUAGE_NAMES
    env.globals["ROLE_NAMES"] = ROLE_NAMES
    return Jinja2Templates(env=env)


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    templates: Jinja2Templates = request.app.state.templates
    viewer: Viewer | None = getattr(request.state, "viewer", None)
    full = {
        "viewer": viewer,
        "can": viewer.can if viewer else (lambda _action: False),
        "locale": i18n.current_locale(),
        "path": request.url.path,
        "flash": i18n.gettext(FLASH[ok]) if (ok := request.query_params.get("ok")) in FLASH else "",
    }
    full.update(context or {})
    return templates.TemplateResponse(request, name, full, status_code=status_code, headers=headers)
