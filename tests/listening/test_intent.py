"""Intent rules: multi-label, explainable, negation-aware, robust on any text."""

from __future__ import annotations

import pytest

from allsang.listening.intent import (
    INTENTS,
    detect_intents,
    primary_intent,
    score_intents,
)


def names(text: str, lang: str | None = None) -> set[str]:
    return {i.name for i in detect_intents(text, lang)}


def test_a_message_can_carry_several_intents_with_their_evidence() -> None:
    text = "Vad kostar en licens för 20 användare?"
    found = {i.name: i for i in detect_intents(text, "sv")}
    assert set(found) == {"question", "sales_lead"}
    evidence = found["sales_lead"].evidence
    assert any(text[e.start : e.end] == e.text for e in evidence)
    assert {e.rule for e in evidence} >= {"vad kostar", "licens*"}
    assert all(0.5 <= i.confidence <= 1 for i in found.values())


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("Inte nöjd med svaret från kundtjänst", "sv", {"complaint"}),
        ("Ikke dårlig i det hele tatt, maten var nydelig", "nb", {"praise"}),
        ("Not happy with the new timetable", "en", {"complaint"}),
        ("Not bad at all, the new menu was lovely", "en", {"praise"}),
        ("En ole tyytyväinen palveluun", "fi", {"complaint"}),
    ],
)
def test_a_negator_before_a_sentiment_phrase_flips_its_intent(
    text: str, lang: str, expected: set[str]
) -> None:
    assert names(text, lang) == expected


def test_a_negator_in_another_clause_does_not_flip() -> None:
    assert names("Det funkade inte igår. Men nu: fantastisk service!", "sv") == {"praise"}


def test_sarcastic_thanks_is_a_complaint_and_not_praise() -> None:
    assert names("Tåget inställt igen. Tack för ingenting", "sv") == {"complaint"}


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Har ni öppet på lördag", "sv"),
        ("@Nordlys hvordan endrer jeg billetten", "nb"),
        ("Hej! Kvifor er ferja sein i dag", "nn"),
        ("Onko teillä auki huomenna", "fi"),
        ("anyone know if the trains run tomorrow", "en"),
        ("Hvornår åbner butikken?", "da"),
    ],
)
def test_questions_are_found_without_a_question_mark_too(text: str, lang: str) -> None:
    assert "question" in names(text, lang)


def test_words_match_only_on_word_boundaries() -> None:
    # "tacksam" is not "tack", "jobbigt" is not "job", "reportern" is not a bare phrase match
    assert "praise" not in names("Det var jobbigt idag", "sv")
    assert "job" not in names("Det var jobbigt idag", "sv")


def test_plain_chatter_carries_no_intent() -> None:
    assert names("Snön har äntligen kommit till Kiruna ❄️", "sv") <= {"praise"}
    assert names("Lyssnar på podden på tåget", "sv") == set()


def test_a_clear_sentiment_supports_a_weak_rule_hit_but_never_decides_alone() -> None:
    weak = "Bussen kom sent igen"
    assert "complaint" not in names(weak, "sv")
    assert "complaint" in {i.name for i in detect_intents(weak, "sv", sentiment_score=-0.8)}
    assert detect_intents("Bussen gick kl 8", "sv", sentiment_score=-0.9) == []


def test_the_primary_intent_prefers_the_specific_one() -> None:
    found = detect_intents("Journalist på DN här, kan ni ge en kommentar?", "sv")
    assert {"press", "question"} <= {i.name for i in found}
    assert primary_intent(found) == "press"
    assert primary_intent([]) is None


@pytest.mark.parametrize(
    "text",
    ["", "?", "\x00\x01\ud800", "😡" * 100_000, "NOT " * 5000, "a" * 1_000_000, "tack " * 2000],
)
def test_any_text_is_analysed_without_crashing(text: str) -> None:
    for intent in score_intents(text, None):
        assert intent.name in INTENTS
        assert 0 <= intent.confidence <= 1
