"""Language identification: labels, confidence, awkward input, and the hand-written sample."""

from __future__ import annotations

from pathlib import Path

import pytest

from allsang.listening.langid import LANGUAGES, detect

SAMPLE = Path(__file__).parent / "data" / "lid_sample.tsv"


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Jag tycker att det var en bra film", "sv"),
        ("Eg synest det var ein god film, og eg gler meg til neste", "nn"),
        ("Minusta se oli hyvä elokuva", "fi"),
        ("I think it was a good movie", "en"),
        ("Jeg er rigtig glad for min nye telefon, den virker fint", "da"),
        ("Das Essen war kalt und der Kellner war unhöflich.", "other"),
    ],
)
def test_languages(text: str, lang: str) -> None:
    guess = detect(text)
    assert guess.lang == lang
    assert 0.0 <= guess.confidence <= 1.0


def test_bokmal_is_reported_as_nb() -> None:
    assert detect("Hvorfor har ikke pakken min kommet ennå? Jeg har ventet i to uker.").lang == "nb"


@pytest.mark.parametrize(
    "text", ["", "   ", "🔥🔥🔥", "@volvo https://volvo.example/x #bil", "123"]
)
def test_nothing_to_detect_is_other_with_no_confidence(text: str) -> None:
    assert detect(text) == ("other", 0.0)


def test_short_text_has_low_confidence() -> None:
    assert detect("hej").confidence <= 0.5


def test_urls_handles_and_tags_are_ignored() -> None:
    text = "@SomeBrand #awesome https://example.com/the/english/path Tack för hjälpen i dag!"
    assert detect(text).lang == "sv"


@pytest.mark.parametrize("text", ["\x00\x01\x7f ctrl", "bad \udcff surrogate", "🔥" * 250_000])
def test_awkward_input_never_raises(text: str) -> None:
    assert detect(text).lang in (*LANGUAGES, "other")


def test_hand_written_sample_accuracy() -> None:
    rows = [
        line.split("\t", 1)
        for line in SAMPLE.read_text("utf-8").splitlines()
        if "\t" in line and not line.startswith("#")
    ]
    right = sum(detect(text).lang == gold for gold, text in rows)
    assert right / len(rows) >= 0.9
