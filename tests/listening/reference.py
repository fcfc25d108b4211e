"""A slow, obviously correct evaluator of parsed queries, written independently of the
compiled matcher: brute force over token positions, no indexes, no anchors."""

from __future__ import annotations

from itertools import permutations
from urllib.parse import urlsplit

from allsang.listening.query import ast
from allsang.listening.query.evaluate import Message
from allsang.listening.text import normalize, tokenize


def _wildcard(pattern: str, text: str) -> bool:
    if not pattern:
        return not text
    if pattern == "*":
        return True
    if not text:
        return False
    return pattern[0] in ("?", text[0]) and _wildcard(pattern[1:], text[1:])


class Reference:
    def __init__(self, text: str, fold: bool) -> None:
        self.fold = fold
        self.raws = [t.text for t in tokenize(text)]
        self.norms = [normalize(t, fold) for t in self.raws]

    def _form(self, pos: int, query_text: str, raw: bool) -> str:
        form = self.raws[pos] if raw else self.norms[pos]
        if query_text.startswith(("#", "@")):
            return form
        return form[1:] if form.startswith("#") else form

    def token_is(self, pos: int, query_text: str, raw: bool = False) -> bool:
        want = query_text if raw else normalize(query_text, self.fold)
        return self._form(pos, query_text, raw) == want

    def spans(self, node: ast.Node) -> set[tuple[int, int]]:
        n = len(self.raws)
        if isinstance(node, ast.Term):
            return {(p, p) for p in range(n) if self.token_is(p, node.text)}
        if isinstance(node, ast.Pattern):
            pattern = normalize(node.text, self.fold)
            return {(p, p) for p in range(n) if _wildcard(pattern, self._form(p, node.text, False))}
        if isinstance(node, ast.Phrase | ast.Raw):
            raw = isinstance(node, ast.Raw)
            k = len(node.texts)
            return {
                (p, p + k - 1)
                for p in range(n - k + 1)
                if all(self.token_is(p + i, t, raw) for i, t in enumerate(node.texts))
            }
        if isinstance(node, ast.Or):
            return set().union(*(self.spans(c) for c in node.children))
        if isinstance(node, ast.Near):
            out = set()
            for ls, le in self.spans(node.left):
                for rs, re_ in self.spans(node.right):
                    if le < rs and rs - le - 1 <= node.distance:
                        out.add((ls, max(le, re_)))
                    elif not node.ordered and re_ < ls and ls - re_ - 1 <= node.distance:
                        out.add((min(ls, rs), le))
            return out
        raise AssertionError(node)

    def matches(self, node: ast.Node, msg: Message) -> bool:
        match node:
            case ast.Term() | ast.Pattern() | ast.Raw() | ast.Near():
                return bool(self.spans(node))
            case ast.Phrase(texts, None):
                return bool(self.spans(node))
            case ast.Phrase(texts, slop):
                k = len(texts)
                for chosen in permutations(range(len(self.raws)), k):
                    if max(chosen) - min(chosen) <= k - 1 + slop and all(
                        self.token_is(p, t) for p, t in zip(chosen, texts, strict=True)
                    ):
                        return True
                return False
            case ast.And(children):
                return all(self.matches(c, msg) for c in children)
            case ast.Or(children):
                return any(self.matches(c, msg) for c in children)
            case ast.Not(child):
                return not self.matches(child, msg)
            case ast.Title(child):
                return Reference(msg.title or "", self.fold).matches(child, msg)
            case ast.Field(name, value):
                value = value.lower()
                if name == "lang":
                    return msg.lang in ({"nb", "nn"} if value == "no" else {value})
                if name == "site":
                    host = urlsplit(msg.url or "").hostname or ""
                    return host == value or host.endswith("." + value)
                if name == "author":
                    return value.lstrip("@") in {(msg.author or "").lower().lstrip("@")}
                return (getattr(msg, name) or "").lower() == value
        raise AssertionError(node)
