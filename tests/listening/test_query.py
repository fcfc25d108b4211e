"""Unit tests of the query language: one or more per operator, field and error."""

from __future__ import annotations

import pytest

from allsang.listening.query import Message, QuerySyntaxError, compile_queries, parse


def matches(query: str, text: str, fold: bool = False, **meta: str) -> bool:
    return compile_queries([("q", query)], fold=fold).match(Message(text, **meta)) == ["q"]


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        ("volvo", "Jag älskar min VOLVO!", True),
        ("volvo", "volvobilar", False),
        ("volvo saab", "volvo och saab", True),  # implicit AND
        ("volvo saab", "bara volvo", False),
        ("volvo AND saab", "saab, volvo", True),
        ("volvo OR saab", "bara saab", True),
        ("volvo NOT saab", "volvo och saab", False),
        ("volvo -saab", "volvo och bmw", True),
        ("NOT spam", "anything", True),
        ("NOT spam", "spam here", False),
        ("volvo OR saab NOT bmw", "volvo och bmw", True),  # NOT > AND > OR
        ("(volvo OR saab) NOT bmw", "volvo och bmw", False),
        ('"ny bil"', "en ny bil i dag", True),
        ('"ny bil"', "bil ny", False),
        ('"ny bil"~1', "ny fin bil", True),
        ('"ny bil"~1', "bil, ny", True),
        ('"ny bil"~1', "ny och fin bil", False),
        ("volvo NEAR/2 bil", "bil av märket volvo", True),
        ("volvo NEAR/1 bil", "bil av märket volvo", False),
        ("volvo NEAR/2f bil", "bil av märket volvo", False),
        ("volvo ONEAR/2 bil", "volvo är en bil", True),
        ('(volvo OR saab) NEAR/0 "xc 90"', "saab xc 90", True),
        ("volv*", "Volvon är bra", True),
        ("volv*", "evolve", False),
        ("colo?r", "the colour", True),
        ("colo?r", "the color", False),
        ("col?r", "the color", True),
        ("#volvo", "love my #Volvo", True),
        ("#volvo", "love my volvo", False),
        ("volvo", "love my #Volvo", True),  # a word also finds the hashtag
        ("@volvo", "hi @Volvo!", True),
        ("volvo", "hi @volvo", False),
        ('raw:"Apple"', "I like Apple", True),
        ('raw:"Apple"', "I like apple", False),
        ("coca-cola", "Coca Cola rocks", True),
        ("blåbær", "blåbär", False),
        ("🔥", "so hot 🔥🔥", True),
        ("volvo <<< the brand >>>", "volvo", True),
        ("https://allsang.example/a", "see https://allsang.example/a now", True),
    ],
)
def test_operators(query: str, text: str, expected: bool) -> None:
    assert matches(query, text) is expected


def test_folding_covers_both_spellings() -> None:
    assert matches("blåbær", "blåbär", fold=True)
    assert matches("smörgås", "smørgås", fold=True)
    assert not matches("blåbær", "blabær", fold=True)  # å stays å


@pytest.mark.parametrize(
    ("query", "meta", "expected"),
    [
        ("lang:no", {"lang": "nn"}, True),
        ("lang:no", {"lang": "nb"}, True),
        ("lang:no", {"lang": "da"}, False),
        ("lang:sv", {}, False),
        ("site:dn.se", {"url": "https://www.dn.se/x"}, True),
        ("site:dn.se", {"url": "https://dn.se.evil.example/"}, False),
        ("url:/ekonomi/", {"url": "https://www.dn.se/ekonomi/x"}, True),
        ("author:@Volvo", {"author": "volvo"}, True),
        ("author:volvo", {"author": "saab"}, False),
        ("country:SE", {"country": "se"}, True),
        ("platform:mastodon", {"platform": "bluesky"}, False),
        ("channel:press", {"channel": "press"}, True),
        ("sentiment:neg", {"sentiment": "neg"}, True),
        ('title:"ny bil"', {"title": "En ny bil"}, True),
        ("title:bil", {"title": "Båt"}, False),
        ("volvo lang:sv", {"lang": "sv"}, True),
    ],
)
def test_fields(query: str, meta: dict[str, str], expected: bool) -> None:
    text = "volvo" if "volvo" in query else "some text"
    assert matches(query, text, **meta) is expected


@pytest.mark.parametrize(
    ("query", "column", "reason"),
    [
        ("volvo AND saab NEAR/ bil", 21, "NEAR/ needs a number"),
        ("a ONEAR/ b", 9, "ONEAR/ needs a number"),
        ("a NEAR b", 3, "NEAR/ needs a number"),
        ("a NEAR/500 b", 8, "at most 100"),
        ("volvo AND", 7, "AND needs a term after it"),
        ("OR volvo", 1, "OR needs a term on each side"),
        ("(volvo", 1, "( is never closed"),
        ("volvo)", 6, ") has no matching ("),
        ("()", 1, "empty parentheses"),
        ('"volvo xc', 1, "quotation mark is never closed"),
        ('"a b"~x', 7, "~ needs a number"),
        ("vo*", 3, "at least 3 letters"),
        ("vol*vo", 4, "only allowed at the end"),
        ("a.b*", 1, "inside a single word"),
        ("lang:xx", 6, "unknown language"),
        ("sentiment:happy", 11, "pos, neu or neg"),
        ("author:", 8, "author: needs a value"),
        ("volvo <<< x", 7, "never closed with >>>"),
        ("volvo - saab", 7, "directly before"),
        ("!!!", 1, "no letters"),
        ("", 1, "the query is empty"),
        ("(a AND b) NEAR/3 c", 11, "can only join"),
        ('"vol* x"', 1, "wildcards do not work inside quotation marks"),
    ],
)
def test_errors_have_column_and_reason(query: str, column: int, reason: str) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse(query)
    assert caught.value.column == column
    assert reason in caught.value.reason
    assert str(caught.value).endswith(f"at column {column}")


def test_an_invalid_query_names_its_id_and_compiles_nothing() -> None:
    with pytest.raises(QuerySyntaxError, match="query 'bad'"):
        compile_queries([("ok", "volvo"), ("bad", "a NEAR/ b")])


def test_queries_without_anchor_are_always_evaluated() -> None:
    qs = compile_queries([("a", "volvo"), ("b", "NOT volvo"), ("c", "lang:sv"), ("d", "x OR -y")])
    assert qs.always_evaluated == ["b", "c", "d"]
    assert qs.match(Message("hej", lang="sv")) == ["b", "c", "d"]
    assert qs.match(Message("volvo y", lang="da")) == ["a"]


def test_anchor_prefilter_skips_unrelated_queries() -> None:
    qs = compile_queries([(str(i), f"brand{i} NEAR/3 launch") for i in range(1000)])
    from allsang.listening.query.evaluate import Doc

    assert qs.candidates(Doc("brand7 launch today", False)) == [7]
    assert qs.match("brand7 launch today") == ["7"]


def test_lowercase_operators_are_words() -> None:
    assert matches("rock and roll", "rock and roll")
    assert not matches("rock and roll", "rock roll")


def test_huge_emoji_text() -> None:
    text = "🔥" * 250_000
    assert matches("🔥 NEAR/1 🔥", text)
    assert not matches("volvo", text)
