"""Parser for the listening query language (SPEC §2C).

Grammar, loosest binding first (NOT > AND > OR; NEAR binds tighter than all three)::

    query   := or EOF
    or      := and ("OR" and)*
    and     := unary (["AND"] unary)*          # juxtaposition is AND
    unary   := ("NOT" | "-") unary | near
    near    := primary (("NEAR/N" | "NEAR/Nf" | "ONEAR/N") primary)*
    primary := "(" or ")" | term | "\"phrase\"" ["~N"] | field:value

Operators are upper-case only (``and``/``or``/``not`` are ordinary words). Every error is a
:class:`QuerySyntaxError` with a 1-based column; the parser never raises anything else, and
its work is linear in the length of the query (nesting and length are capped).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from allsang.listening.query.ast import (
    FIELDS,
    LANGS,
    SENTIMENTS,
    And,
    Field,
    Near,
    Node,
    Not,
    Or,
    Pattern,
    Phrase,
    Raw,
    Term,
    Title,
)
from allsang.listening.text import tokenize

MAX_LENGTH = 4096  # the limit of the common listening tools; keeps every parse fast
MAX_DEPTH = 64
MAX_DISTANCE = 100

_NEAR_RE = re.compile(r"(O?)NEAR/(\d*)(f?)")
_PATTERN_RE = re.compile(r"[#@]?[\w?]+\*?")
_DIGITS_RE = re.compile(r"\d+")
_WORD_RE = re.compile(r"\w+")


class QuerySyntaxError(ValueError):
    """A query that cannot be used, with the reason in plain language and a 1-based column.

    ``query_id`` and ``line`` are filled in by callers that know where the query came from.
    """

    def __init__(
        self, reason: str, column: int, query_id: str | None = None, line: int | None = None
    ) -> None:
        self.reason = reason
        self.column = column
        self.query_id = query_id
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"at column {self.column}"
        if self.line is not None:
            where = f"at line {self.line}, column {self.column}"
        prefix = f"query {self.query_id!r}: " if self.query_id is not None else ""
        return f"{prefix}{self.reason} {where}"


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # "(" ")" AND OR NOT - NEAR TERM PHRASE FIELD END
    column: int
    text: str = ""
    number: int | None = None
    ordered: bool = False
    quoted: bool = False


def _lex(query: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(query)
    while i < n:
        ch = query[i]
        col = i + 1
        if ch.isspace():
            i += 1
        elif query.startswith("<<<", i):
            end = query.find(">>>", i + 3)
            if end < 0:
                raise QuerySyntaxError("the comment opened with <<< is never closed with >>>", col)
            i = end + 3
        elif ch in "()":
            toks.append(_Tok(ch, col))
            i += 1
        elif ch == '"':
            text, slop, i = _read_phrase(query, i)
            toks.append(_Tok("PHRASE", col, text, slop))
        elif ch == "-" and (i + 1 >= n or query[i + 1].isspace()):
            raise QuerySyntaxError("- must be written directly before the term it excludes", col)
        elif ch == "-":
            toks.append(_Tok("-", col))
            i += 1
        else:
            j = i
            while j < n and not query[j].isspace() and query[j] not in '()"':
                j += 1
            word = query[i:j]
            field, sep, value = word.partition(":")
            if sep and field.lower() in FIELDS:
                i, tok = _read_field(query, field.lower(), value, i, j)
                toks.append(tok)
                continue
            toks.append(_word_token(word, col))
            i = j
    toks.append(_Tok("END", n + 1))
    return toks


def _read_phrase(query: str, i: int) -> tuple[str, int | None, int]:
    end = query.find('"', i + 1)
    if end < 0:
        raise QuerySyntaxError("the quotation mark is never closed", i + 1)
    text = query[i + 1 : end]
    i = end + 1
    if i < len(query) and query[i] == "~":
        m = _DIGITS_RE.match(query, i + 1)
        if not m:
            raise QuerySyntaxError('~ needs a number after the "phrase", e.g. "a b"~3', i + 2)
        slop = _distance(m.group(), i + 2, "~")
        return text, slop, m.end()
    return text, None, i


def _distance(digits: str, column: int, what: str) -> int:
    value = int(digits[:4])  # a long digit run would only be refused below anyway
    if len(digits) > 3 or value > MAX_DISTANCE:
        raise QuerySyntaxError(f"{what} distance must be at most {MAX_DISTANCE}", column)
    return value


def _word_token(word: str, col: int) -> _Tok:
    if word in ("AND", "OR", "NOT"):
        return _Tok(word, col)
    m = _NEAR_RE.fullmatch(word)
    if m or word in ("NEAR", "ONEAR") or word.startswith(("NEAR/", "ONEAR/")):
        op = "ONEAR/" if word.startswith("O") else "NEAR/"
        if not m or not m.group(2):
            where = col + len(op) if word.startswith(op) else col
            raise QuerySyntaxError(f"{op} needs a number (e.g. {op}5)", where)
        if m.group(1) and m.group(3):
            raise QuerySyntaxError("ONEAR/ is already ordered; write ONEAR/N or NEAR/Nf", col)
        number = _distance(m.group(2), col + len(op), op)
        return _Tok("NEAR", col, word, number, ordered=bool(m.group(1) or m.group(3)))
    return _Tok("TERM", col, word)


def _read_field(query: str, field: str, value: str, i: int, j: int) -> tuple[int, _Tok]:
    col = i + 1
    value_col = i + len(field) + 2
    if not value and j < len(query) and query[j] == '"':
        text, slop, end = _read_phrase(query, j)
        if slop is not None:
            raise QuerySyntaxError(f'{field}: does not take "…"~N', j + 1)
        return end, _Tok("FIELD", col, f"{field}:{text}", number=value_col, quoted=True)
    if not value:
        raise QuerySyntaxError(f"{field}: needs a value", value_col)
    return j, _Tok("FIELD", col, f"{field}:{value}", number=value_col)


class _Parser:
    def __init__(self, toks: list[_Tok]) -> None:
        self.toks = toks
        self.pos = 0
        self.depth = 0

    def peek(self) -> _Tok:
        return self.toks[self.pos]

    def take(self) -> _Tok:
        tok = self.toks[self.pos]
        self.pos += 1
        return tok

    def parse(self) -> Node:
        node = self.parse_or()
        tok = self.peek()
        if tok.kind == ")":
            raise QuerySyntaxError(") has no matching (", tok.column)
        if tok.kind != "END":  # pragma: no cover - parse_or consumes everything else
            raise QuerySyntaxError(f"unexpected {tok.text or tok.kind}", tok.column)
        return node

    def parse_or(self) -> Node:
        children = [self.parse_and()]
        while self.peek().kind == "OR":
            self.take()
            children.append(self.parse_and())
        return children[0] if len(children) == 1 else Or(tuple(children))

    def parse_and(self) -> Node:
        children = [self.parse_unary()]
        while True:
            tok = self.peek()
            if tok.kind == "AND":
                self.take()
            elif tok.kind in ("END", ")", "OR"):
                break
            children.append(self.parse_unary())
        return children[0] if len(children) == 1 else And(tuple(children))

    def parse_unary(self) -> Node:
        tok = self.peek()
        if tok.kind in ("NOT", "-"):
            self.take()
            self.enter(tok)
            child = self.parse_unary()
            self.depth -= 1
            return Not(child)
        return self.parse_near()

    def parse_near(self) -> Node:
        node = self.parse_primary()
        chained = 0
        while self.peek().kind == "NEAR":
            op = self.take()
            chained += 1
            if chained > MAX_DEPTH:  # each link nests the tree one level deeper
                raise QuerySyntaxError("too many NEAR operators in a row", op.column)
            right = self.parse_primary()
            for side in (node, right):
                if not _near_operand(side):
                    raise QuerySyntaxError(
                        f"{op.text} can only join words, phrases and OR-groups of them",
                        op.column,
                    )
            node = Near(node, right, op.number or 0, op.ordered)
        return node

    def enter(self, tok: _Tok) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise QuerySyntaxError("the query is nested too deeply", tok.column)

    def parse_primary(self) -> Node:
        tok = self.take()
        if tok.kind == "(":
            if self.peek().kind == ")":
                raise QuerySyntaxError("empty parentheses", tok.column)
            self.enter(tok)
            node = self.parse_or()
            self.depth -= 1
            if self.peek().kind != ")":
                raise QuerySyntaxError("( is never closed", tok.column)
            self.take()
            return node
        if tok.kind == "TERM":
            return _term(tok.text, tok.column)
        if tok.kind == "PHRASE":
            return _phrase(tok.text, tok.number, tok.column)
        if tok.kind == "FIELD":
            return _field(tok)
        if tok.kind == "END":
            prev = self.toks[self.pos - 2] if self.pos >= 2 else None
            if prev is None:
                raise QuerySyntaxError("the query is empty", tok.column)
            raise QuerySyntaxError(f"{_name(prev)} needs a term after it", prev.column)
        if tok.kind == ")":
            prev = self.toks[self.pos - 2] if self.pos >= 2 else None
            if prev is not None and prev.kind in ("AND", "OR", "NOT", "-", "NEAR"):
                raise QuerySyntaxError(f"{_name(prev)} needs a term after it", prev.column)
            raise QuerySyntaxError(") has no matching (", tok.column)
        raise QuerySyntaxError(f"{_name(tok)} needs a term on each side", tok.column)


def _name(tok: _Tok) -> str:
    return tok.text if tok.kind in ("NEAR", "TERM") else tok.kind


def _near_operand(node: Node) -> bool:
    if isinstance(node, Term | Pattern | Raw | Near):
        return True
    if isinstance(node, Phrase):
        return node.slop is None
    if isinstance(node, Or):
        return all(_near_operand(child) for child in node.children)
    return False


def _term(text: str, col: int) -> Node:
    if _WORD_RE.fullmatch(text):
        return Term(text)
    if "*" in text or "?" in text:
        return _pattern(text, col)
    tokens = tokenize(text)
    if not tokens:
        raise QuerySyntaxError(f"{text!r} has no letters, digits or emoji to search for", col)
    if len(tokens) == 1:
        return Term(tokens[0].text)
    return Phrase(tuple(t.text for t in tokens))


def _pattern(text: str, col: int) -> Node:
    star = text.find("*")
    if star >= 0 and star != len(text) - 1:
        raise QuerySyntaxError("* is only allowed at the end of a word", col + star)
    if not _PATTERN_RE.fullmatch(text):
        raise QuerySyntaxError("wildcards * and ? only work inside a single word", col)
    body = text.lstrip("#@")
    if star >= 0 and len(body[:-1].replace("?", "")) < 3:
        raise QuerySyntaxError("a wildcard * needs at least 3 letters before it", col + star)
    if not body.replace("?", "").replace("*", ""):
        raise QuerySyntaxError("a wildcard word needs at least one letter", col)
    return Pattern(text)


def _phrase(text: str, slop: int | None, col: int) -> Node:
    if "*" in text or "?" in text:
        raise QuerySyntaxError("wildcards do not work inside quotation marks", col)
    tokens = tokenize(text)
    if not tokens:
        raise QuerySyntaxError("the quoted phrase has no letters, digits or emoji", col)
    if len(tokens) == 1:
        return Term(tokens[0].text)
    return Phrase(tuple(t.text for t in tokens), slop)


def _field(tok: _Tok) -> Node:
    name, _, value = tok.text.partition(":")
    col = tok.number or tok.column
    if name == "raw":
        tokens = tokenize(value)
        if not tokens:
            raise QuerySyntaxError("raw: needs letters, digits or emoji to search for", col)
        return Raw(tuple(t.text for t in tokens))
    if name == "title":
        return Title(_phrase(value, None, col) if tok.quoted else _term(value, col))
    value = value.strip()
    if not value:
        raise QuerySyntaxError(f"{name}: needs a value", col)
    if name == "lang" and value.lower() not in LANGS:
        raise QuerySyntaxError(f"unknown language {value!r} (use {', '.join(LANGS)})", col)
    if name == "sentiment" and value.lower() not in SENTIMENTS:
        raise QuerySyntaxError("sentiment: takes pos, neu or neg", col)
    return Field(name, value)


def parse(query: str) -> Node:
    """Parse one query into its syntax tree, or raise :class:`QuerySyntaxError`."""
    if not isinstance(query, str):
        raise TypeError("query must be a str")
    if len(query) > MAX_LENGTH:
        raise QuerySyntaxError(f"the query is longer than {MAX_LENGTH} characters", MAX_LENGTH)
    return _Parser(_lex(query)).parse()
