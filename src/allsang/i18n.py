"""Interface languages: message catalogs, the per-request locale and time zone, formatting.

The catalogs are the ``.po`` files in ``allsang/locale/<lang>/LC_MESSAGES/messages.po``. They are
compiled in memory when first needed, so there is no build step and no binary in the repository.
To add or change strings, see ``docs/translations.md``.

The locale and time zone of the current request live in context variables, set once by the web
layer after it knows who is asking; :func:`gettext` and the formatting helpers read them.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.dates import format_datetime as _format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

DEFAULT_LOCALE = "en"
LOCALES: tuple[str, ...] = ("en", "sv", "nb", "da")
# Each language named in itself: people look for their own language's name.
LANGUAGE_NAMES: dict[str, str] = {
    "en": "English",
    "sv": "Svenska",
    "nb": "Norsk bokmål",
    "da": "Dansk",
}
# Browsers send "no" for Norwegian more often than "nb"; Nynorsk readers read Bokmål.
_ALIASES = {"no": "nb", "nn": "nb"}

_locale: ContextVar[str] = ContextVar("allsang_locale", default=DEFAULT_LOCALE)
_timezone: ContextVar[str] = ContextVar("allsang_timezone", default="UTC")


@cache
def translations(locale: str) -> NullTranslations:
    """The compiled catalog of ``locale`` (English is the source language: no catalog)."""
    if locale == DEFAULT_LOCALE or locale not in LOCALES:
        return NullTranslations()
    po = resources.files("allsang") / "locale" / locale / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


def load_catalogs() -> None:
    """Compile every catalog now, so a broken .po file stops start-up instead of a request."""
    for locale in LOCALES:
        translations(locale)


def current_locale() -> str:
    return _locale.get()


def current_timezone() -> str:
    return _timezone.get()


def set_locale(locale: str, timezone: str | None = None) -> None:
    """Set the language (and time zone) for the rest of the current request or task."""
    _locale.set(locale if locale in LOCALES else DEFAULT_LOCALE)
    if timezone is not None:
        _timezone.set(timezone if valid_timezone(timezone) else "UTC")


@contextmanager
def using_locale(locale: str, timezone: str = "UTC") -> Iterator[None]:
    """Temporarily switch language and time zone (tests, e-mails to other people)."""
    locale_token = _locale.set(locale if locale in LOCALES else DEFAULT_LOCALE)
    tz_token = _timezone.set(timezone)
    try:
        yield
    finally:
        _locale.reset(locale_token)
        _timezone.reset(tz_token)


def gettext(message: str) -> str:
    return translations(_locale.get()).ugettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(_locale.get()).ungettext(singular, plural, n)


_ = gettext


def N_(message: str) -> str:
    """Mark a string for extraction without translating it yet (translated when shown)."""
    return message


def normalize_locale(tag: str | None) -> str | None:
    """Map a language tag (``sv-SE``, ``no``, ``nb_NO``) to a supported locale, or None."""
    if not tag:
        return None
    base = tag.strip().replace("_", "-").split("-")[0].lower()
    base = _ALIASES.get(base, base)
    return base if base in LOCALES else None


def negotiate_accept_language(header: str | None) -> str | None:
    """The best supported locale in an ``Accept-Language`` header, or None."""
    if not header:
        return None
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _sep, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        locale = normalize_locale(tag)
        if locale and quality > 0:
            weighted.append((-quality, position, locale))
    return min(weighted)[2] if weighted else None


def valid_timezone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def format_datetime(value: datetime | None, format: str = "medium") -> str:
    """An instant in the current person's time zone and language."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return _format_datetime(
        value, format=format, tzinfo=ZoneInfo(_timezone.get()), locale=Locale.parse(_locale.get())
    )


def format_number(value: float | int) -> str:
    return format_decimal(value, locale=_locale.get())
