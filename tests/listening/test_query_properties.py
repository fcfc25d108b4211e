"""The compiled matcher against the reference evaluator, and the parser under fuzzing."""

from __future__ import annotations

import time

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from allsang.listening.query import Message, QuerySyntaxError, compile_queries, parse
from tests.listening.reference import Reference

WORDS = ["volvo", "Volvo", "saab", "bil", "blåbær", "blåbär", "hej", "🔥", "xc90", "døde"]
TOKENS = [*WORDS, "#volvo", "#Saab", "@saab", "bilen", "volvobil"]
PATTERNS = ["vol*", "volv?", "bl?bær", "bil*", "sa?b", "#vol*", "h?j"]
FIELDS = ["lang:sv", "lang:no", "lang:da", "sentiment:pos", "site:dn.se", "author:saab"]

term = st.one_of(
    st.sampled_from(TOKENS),
    st.sampled_from(PATTERNS),
    st.lists(st.sampled_from(WORDS), min_size=2, max_size=3).map(lambda ws: f'"{" ".join(ws)}"'),
    st.sampled_from(WORDS).map(lambda w: f'raw:"{w}"'),
)
near_operand = st.one_of(
    term.filter(lambda t: not t.startswith("raw")),
    st.lists(st.sampled_from(TOKENS), min_size=2, max_size=3).map(
        lambda ws: "(" + " OR ".join(ws) + ")"
    ),
)


near = st.builds(
    lambda a, op, n, b: f"{a} {op.replace('N', str(n))} {b}",
    near_operand,
    st.sampled_from(["NEAR/N", "NEAR/Nf", "ONEAR/N"]),
    st.integers(0, 3),
    near_operand,
)
slop_phrase = st.builds(
    lambda ws, n: f'"{" ".join(ws)}"~{n}',
    st.lists(st.sampled_from(WORDS), min_size=2, max_size=3),
    st.integers(0, 3),
)
atom = st.one_of(term, near, slop_phrase, st.sampled_from(FIELDS))


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.builds(lambda a, b: f"{a} AND {b}", children, children),
        st.builds(lambda a, b: f"{a} {b}", children, children),
        st.builds(lambda a, b: f"{a} OR {b}", children, children),
        st.builds(lambda a: f"NOT {a}", children),
        st.builds(lambda a: f"-{a}", children),
        st.builds(lambda a: f"({a})", children),
    )


query = st.recursive(atom, _combine, max_leaves=6)
text = st.lists(
    st.tuples(st.sampled_from(TOKENS), st.sampled_from([" ", ", ", "! ", " - "])), max_size=9
).map(lambda parts: "".join(w + sep for w, sep in parts))
message = st.builds(
    Message,
    text=text,
    lang=st.sampled_from([None, "sv", "nb", "nn", "da"]),
    sentiment=st.sampled_from([None, "pos", "neg"]),
    author=st.sampled_from([None, "@Saab", "volvo"]),
    url=st.sampled_from([None, "https://www.dn.se/a", "https://example.com/dn.se"]),
)


def _parses(q: str) -> bool:
    try:
        parse(q)
    except QuerySyntaxError:
        return False
    return True


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    queries=st.lists(query.filter(_parses), min_size=1, max_size=8),
    messages=st.lists(message, min_size=1, max_size=4),
    fold=st.booleans(),
)
def test_compiled_matcher_agrees_with_reference(
    queries: list[str], messages: list[Message], fold: bool
) -> None:
    compiled = compile_queries([(str(i), q) for i, q in enumerate(queries)], fold=fold)
    for msg in messages:
        ref = Reference(msg.text, fold)
        expected = [str(i) for i, q in enumerate(queries) if ref.matches(parse(q), msg)]
        assert compiled.match(msg) == expected, (queries, msg)


QUERY_ALPHABET = st.one_of(
    st.sampled_from(
        [
            *("AND", "OR", "NOT", "NEAR/", "ONEAR/", "(", ")", '"', "~", "*", "?", "-", "#", "@"),
            *(":", "raw:", "lang:", "title:", "<<<", ">>>", " ", "3", "f", "volvo", "å", "🔥"),
        ]
    ),
    st.text(max_size=3),
)
slowest = [0.0]


@settings(max_examples=400, deadline=2000)
@example("(" * 5000)
@example("NOT " * 2000 + "a")
@example("a " * 2048)
@example('"' * 4095)
@example("a NEAR/3 " * 1000 + "b")
@example("<<<" * 3000)
@example("(a OR b) " * 1000)
@given(st.lists(QUERY_ALPHABET, max_size=40).map("".join) | st.text(max_size=200))
def _fuzz_parser(q: str) -> None:
    # CPU time of this thread: what the parser costs, not how busy the shared machine is.
    start = time.thread_time()
    try:
        compile_queries([("q", q)]).match("volvo 🔥 bil")
    except QuerySyntaxError as exc:
        assert exc.column >= 1
        assert exc.reason
    slowest[0] = max(slowest[0], time.thread_time() - start)


def test_parser_fuzz_never_crashes_nor_takes_100_ms() -> None:
    """Only QuerySyntaxError escapes, and the slowest parse + compile + match is < 100 ms."""
    _fuzz_parser()
    assert slowest[0] < 0.1, f"slowest query took {slowest[0] * 1000:.1f} ms"
