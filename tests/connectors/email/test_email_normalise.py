"""Normalising e-mails, broken ones included: fallbacks instead of crashes."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from allsang.connectors.email.normalise import message_bytes, normalise_payload, raw_payload
from allsang.ingest.message import InvalidMessage

INTERNALDATE = "17-Jul-2026 02:44:25 -0700"


def test_the_payload_keeps_the_exact_bytes_even_when_they_are_not_utf8() -> None:
    raw = b"From: a@b.no\r\nSubject: \xe6\xf8\xe5\r\n\r\nbody \xff\r\n"
    assert message_bytes(raw_payload(1, raw)) == raw


@pytest.mark.parametrize(
    "name", ["error_emails/bad_date_header2.eml", "plain_emails/raw_email_bad_time.eml"]
)
def test_an_unreadable_or_absurd_date_falls_back_to_internaldate(payloads: Path, name: str) -> None:
    raw = (payloads / "imap-tools-eml" / name).read_bytes()
    message = normalise_payload(raw_payload(7, raw, INTERNALDATE))

    assert message.created_at == datetime(2026, 7, 17, 9, 44, 25, tzinfo=UTC)


def test_without_any_date_the_time_of_reading_is_used() -> None:
    raw = b"From: a@b.no\r\nDate: yesterday-ish\r\n\r\nhei\r\n"
    message = normalise_payload(raw_payload(1, raw, "not a date"))

    assert abs(message.created_at - datetime.now(UTC)) < timedelta(minutes=1)


def test_a_message_without_message_id_gets_a_hash_of_its_bytes() -> None:
    raw = b"From: Ola <ola@example.no>\r\nSubject: hei\r\n\r\nhei\r\n"
    message = normalise_payload(raw_payload(1, raw))

    assert message.external_id == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert message.author.handle == "ola@example.no" and message.author.name == "Ola"


def test_a_message_without_a_sender_address_is_invalid() -> None:
    with pytest.raises(InvalidMessage, match="no From address"):
        normalise_payload(raw_payload(1, b"Subject: who?\r\n\r\nanon\r\n"))


def test_a_japanese_iso_2022_message_is_decoded(payloads: Path) -> None:
    raw = (payloads / "imap-tools-eml/multi_charset/japanese_iso_2022.eml").read_bytes()
    message = normalise_payload(raw_payload(1, raw))

    assert message.text
    assert "\ufffd" not in message.text
