"""Languages: complete catalogs, how the language is chosen, localised formatting.

The catalog test extracts every string from the templates and the Python code (with the same
mapping as ``pybabel extract``, see docs/translations.md) and fails when any catalog lacks one
or leaves it untranslated.
"""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import httpx
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from allsang import i18n
from allsang.runtime import Runtime
from tests.web.conftest import PASSWORD, ClientFactory, World

ROOT = Path(__file__).resolve().parents[2]
LOCALE_DIR = Path(str(resources.files("allsang") / "locale"))
TRANSLATED = [locale for locale in i18n.LOCALES if locale != i18n.DEFAULT_LOCALE]


def extracted_messages() -> set[str]:
    with (LOCALE_DIR / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    found: set[str] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        ROOT, method_map, options_map, keywords=keywords
    ):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def test_the_extraction_finds_the_strings() -> None:
    messages = extracted_messages()
    # One from a template, one from Python code, one marked with N_.
    assert {"Log in to Allsang", "Wrong e-mail address or password.", "Owner"} <= messages


@pytest.mark.parametrize("locale", TRANSLATED)
def test_every_string_is_translated(locale: str) -> None:
    with (LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    translated = {
        (message.id[0] if isinstance(message.id, tuple) else message.id)
        for message in catalog
        if message.id
        and not message.fuzzy
        and all(message.string if isinstance(message.string, tuple) else [message.string])
    }
    missing = sorted(extracted_messages() - translated)
    assert not missing, f"untranslated in {locale}: {missing} (see docs/translations.md)"


@pytest.mark.parametrize("locale", TRANSLATED)
def test_the_template_catalog_is_current(locale: str) -> None:
    with (LOCALE_DIR / "messages.pot").open("rb") as handle:
        template = {m.id[0] if isinstance(m.id, tuple) else m.id for m in read_po(handle) if m.id}
    assert template == extracted_messages(), "run pybabel extract (docs/translations.md)"


def test_placeholders_survive_translation() -> None:
    for locale in TRANSLATED:
        with i18n.using_locale(locale):
            assert "Ada" in i18n.gettext("Welcome, %(name)s.") % {"name": "Ada"}


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("sv-SE,sv;q=0.9,en;q=0.8", "sv"),
        ("de-DE,no;q=0.8,en;q=0.5", "nb"),
        ("nn", "nb"),
        ("en;q=0.2, da;q=0.9", "da"),
        ("fr", None),
        ("", None),
    ],
)
def test_it_reads_the_browsers_languages(header: str, expected: str | None) -> None:
    assert i18n.negotiate_accept_language(header) == expected


def test_it_formats_dates_and_numbers_per_locale_and_time_zone() -> None:
    instant = datetime(2026, 3, 1, 17, 5, tzinfo=UTC)
    with i18n.using_locale("sv", "Europe/Stockholm"):
        assert i18n.format_datetime(instant, "short") == "2026-03-01 18:05"
        assert i18n.format_number(1234567) == "1\xa0234\xa0567"
    with i18n.using_locale("en", "America/New_York"):
        assert "12:05" in i18n.format_datetime(instant, "short")
        assert i18n.format_number(1234567) == "1,234,567"


async def test_anonymous_visitors_get_their_browsers_language(client: httpx.AsyncClient) -> None:
    page = await client.get("/login", headers={"Accept-Language": "da-DK,da;q=0.9"})
    assert '<html lang="da">' in page.text and "Log ind i Allsang" in page.text
    fallback = await client.get("/login", headers={"Accept-Language": "fr"})
    assert '<html lang="en">' in fallback.text


async def test_the_language_switch_works_before_logging_in(client: httpx.AsyncClient) -> None:
    response = await client.post("/language", data={"locale": "nb", "next": "/login"})
    assert response.headers["location"] == "/login"
    page = await client.get("/login", headers={"Accept-Language": "sv"})
    assert "Logg inn i Allsang" in page.text


async def test_a_persons_choice_beats_the_workspace_and_the_browser(
    client_as: ClientFactory, world: World, runtime: Runtime
) -> None:
    viewer = await client_as("viewer")
    await viewer.post("/language", data={"locale": "sv", "next": "/"})
    page = await viewer.get("/", headers={"Accept-Language": "da"})
    assert '<html lang="sv">' in page.text and "5</strong> personer" in page.text
    # The error pages speak the person's language too.
    forbidden = await viewer.get("/admin/audit")
    assert forbidden.status_code == 403 and "Du har inte åtkomst till det här" in forbidden.text


async def test_wrong_password_message_is_translated(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await client.post(
        "/login",
        data={"email": world.email("viewer"), "password": PASSWORD + "x"},
        headers={"Accept-Language": "nb"},
    )
    assert "Feil e-postadresse eller passord." in response.text
