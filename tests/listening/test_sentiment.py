"""Sentiment: contract of the shipped model, explanations, corrections."""

from __future__ import annotations

import pytest

from allsang.listening.sentiment import Corrections, analyse, default_model
from allsang.listening.sentiment.features import read


@pytest.mark.parametrize(
    ("text", "lang", "label"),
    [
        ("Dette var en fantastisk film, helt nydelig!", "nb", "pos"),
        ("Maten var forferdelig og servicen elendig.", "nb", "neg"),
        ("Det här är skitdåligt, helt värdelöst.", "sv", "neg"),
    ],
)
def test_clear_cases(text: str, lang: str, label: str) -> None:
    assert analyse(text, lang).label == label


@pytest.mark.parametrize("lang", ["sv", "nb", "nn", "no", "da", "fi", "en", "other", None])
@pytest.mark.parametrize("text", ["", "🔥" * 10_000, "\x00\udcff", "ok", "a " * 5000])
def test_any_text_and_language_gives_a_valid_result(text: str, lang: str | None) -> None:
    result = default_model().predict(text, lang)
    assert result.label in ("pos", "neu", "neg")
    assert -1.0 <= result.score <= 1.0


def test_explanation_names_the_driving_words() -> None:
    result = analyse("Filmen var fantastisk", "nb", top=5)
    names = [name for name, _ in result.features]
    assert any("fantastisk" in n or n.startswith("lexicon:") for n in names)
    assert all(isinstance(w, float) for _, w in result.features)


def test_negation_lowers_the_score() -> None:
    model = default_model()
    assert (
        model.predict("filmen var bra", "nb").score
        > model.predict("filmen var ikke bra", "nb").score
    )


def test_corrections_override_near_duplicates() -> None:
    model = default_model()
    text = "Den nya kampanjen är sjuk, alltså helt sjuk"
    corrections = Corrections([(text, "pos")])
    result = model.predict(text + "!", "sv", corrections)
    assert result.label == "pos"
    assert result.corrected


def test_corrections_nudge_similar_texts() -> None:
    model = default_model()
    corrections = Corrections([("Den nya kampanjen är sjuk", "pos")])
    later = "kampanjen är sjuk alltså, ni måste se den"
    before = model.predict(later, "sv")
    after = model.predict(later, "sv", corrections)
    assert not after.corrected
    assert after.score > before.score
    unrelated = "Tåget var försenat igen"
    assert model.predict(unrelated, "sv", corrections) == model.predict(unrelated, "sv")


def test_correction_labels_are_checked() -> None:
    with pytest.raises(ValueError, match="label"):
        Corrections([("text", "great")])


@pytest.mark.parametrize(
    "text",
    [
        "Filmen var ikke bra, men musikken var fantastisk!! :)",
        "Kundtjänsten svarar aldrig. Aldrig! 😡 #fail @support https://x.example/a",
        "bra bra bra ikke bra",
    ],
)
def test_the_word_table_gives_exactly_the_linear_models_logits(text: str) -> None:
    model = default_model()
    idx, dense = model.features(text, "nb")
    slow = model.logits(idx, dense)
    for _ in range(2):  # the first pass fills the table, the second reads it
        fast = model._fast_logits(read(text, "nb", model.lexicons))
        assert fast == pytest.approx(slow, abs=1e-9)
