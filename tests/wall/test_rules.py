"""Automatic moderation rules: whole-word blocklists in the Nordic languages and English,
sentiment, language, known authors, media and account age."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from allsang.wall.rules import Post, Rule, blocked_word, check, tokens


@pytest.mark.parametrize(
    ("text", "entry", "blocked"),
    [
        # Swedish: å/ä/ö are letters, so a stem inside a longer word is no match.
        ("Välkommen till Skåne!", "skån", False),
        ("Vilket jävla väder", "jävla", True),
        ("JÄVLA regn idag", "jävla", True),
        ("Kassen var full", "ass", False),
        # Norwegian (Bokmål).
        ("Dette er helt fantastisk", "fan", False),
        ("Faen, bussen gikk", "faen", True),
        ("Blåbærsyltetøy til frokost", "bær", False),
        # Danish.
        ("Sikke noget lort!", "lort", True),
        ("Lortefilm", "lort", False),
        ("Lortefilm", "lort*", True),
        # Finnish: inflected forms need a prefix entry.
        ("Tämä on paskaa", "paska", False),
        ("Tämä on paskaa", "paska*", True),
        ("Hyvää päivää", "pää", False),
        # English, including punctuation and apostrophes.
        ("What a scunthorpe day", "cunt", False),
        ("Damn, that's late", "damn", True),
        ("You're an idiot.", "idiot", True),
        # Phrases match words in a row, whatever the spacing and case.
        ("buy   CHEAP pills now", "cheap pills", True),
        ("cheap and good pills", "cheap pills", False),
        # Compatibility forms are normalised (full-width letters, soft hyphens).
        ("ｓｐａｍ here", "spam", True),
        ("sp\u00adam here", "spam", True),
    ],
)
def test_a_blocklist_matches_whole_words_only(text: str, entry: str, blocked: bool) -> None:
    assert (blocked_word(text, [entry]) == entry) is blocked


def test_tokens_keep_nordic_letters_inside_words() -> None:
    assert tokens("Smörgåsbord, blåbærsyltetøy och Äänekoski!") == [
        "smörgåsbord",
        "blåbærsyltetøy",
        "och",
        "äänekoski",
    ]


def test_a_low_sentiment_is_rejected_and_a_missing_score_passes() -> None:
    rule = [Rule("min_sentiment", {"score": -0.2})]
    assert check(Post("x", sentiment_score=-0.5), rule).reason == "min_sentiment"
    assert check(Post("x", sentiment_score=0.1), rule).passed
    assert check(Post("x"), rule).passed


def test_languages_accept_listed_ones_and_treat_bokmal_as_norwegian() -> None:
    rule = [Rule("languages", {"codes": ["sv", "no"]})]
    assert check(Post("x", lang="sv"), rule).passed
    assert check(Post("x", lang="nb"), rule).passed
    assert check(Post("x", lang="en"), rule).reason == "languages"
    assert check(Post("x", lang=None), rule).reason == "languages"


def test_known_authors_are_listed_handles_or_earlier_approved_contacts() -> None:
    rule = [Rule("known_authors", {"handles": ["@Anna"]})]
    assert check(Post("x", author_handle="anna"), rule).passed
    assert check(Post("x", author_handle="bo", contact_id=7), rule).reason == "known_authors"
    assert check(
        Post("x", author_handle="bo", contact_id=7), rule, approved_authors=frozenset({7})
    ).passed


def test_media_only_needs_media() -> None:
    rule = [Rule("media_only")]
    assert not check(Post("x"), rule).passed
    assert check(Post("x", has_media=True), rule).passed


def test_young_accounts_are_rejected_where_the_network_tells_the_age() -> None:
    now = datetime(2026, 11, 22, tzinfo=UTC)
    rule = [Rule("min_account_age", {"days": 30})]
    young = Post("x", author_created_at=now - timedelta(days=2), created_at=now)
    old = Post("x", author_created_at=now - timedelta(days=90), created_at=now)
    assert check(young, rule).reason == "min_account_age"
    assert check(old, rule).passed
    assert check(Post("x", created_at=now), rule).passed


def test_a_banned_author_is_rejected_and_the_first_failing_rule_is_the_reason() -> None:
    rules = [Rule("banned_author", {"contact_id": 3}), Rule("blocklist", {"words": ["spam"]})]
    assert check(Post("spam", contact_id=3), rules).reason == "banned_author"
    assert check(Post("spam", contact_id=4), rules).reason == "blocklist: spam"
    assert check(Post("hello", contact_id=4), rules).passed


def test_an_unknown_rule_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown wall rule"):
        check(Post("x"), [Rule("astrology")])
