"""How long a text may be on each network, counted the way the network counts.

The one place for length rules: the inbox reply box and the publishing composer both use it,
and so does the server before anything is sent. Contract::

    from allsang.connectors import limits

    rule = limits.rule_for("mastodon", kind="reply", config=channel.config)  # None: no limit
    m = limits.measure("x", text)          # Measure(length=…, limit=280, …)
    m.remaining, m.over                    # characters left (negative when over), bool
    limits.check("bluesky", text)          # raises limits.TooLong(length, limit) when over

* ``network`` is a connector's short name (``mastodon``, ``bluesky``, ``x``; ``twitter`` is an
  alias of ``x``). Networks without a rule (``email``, webhooks, unknown names) have no limit:
  :func:`rule_for` returns ``None`` and :func:`measure` reports ``limit=None``, never over.
* ``kind`` is ``"reply"`` (a public reply or a post) or ``"direct"`` (a private message); some
  networks allow longer private messages (X 10,000; Bluesky chat 1,000 graphemes).
* ``config`` is the channel's configuration; ``config["max_characters"]`` (a positive int)
  overrides the default for public texts, since Mastodon instances choose their own limit.
* Counting follows each network's own rule:

  - **Mastodon** counts grapheme clusters (an emoji with modifiers is one) after replacing every
    ``http(s)://`` URL by 23 characters, whatever its real length, and a remote mention
    ``@user@instance`` by ``@user`` (as Mastodon's ``StatusLengthValidator`` does).
  - **Bluesky** counts grapheme clusters of the text as sent (links count in full).
  - **X** uses the weighted length of twitter-text v3 (the ``twitter-text-parser`` port, which
    passes the official conformance suite): most Latin, Cyrillic and Greek characters weigh 1,
    CJK characters and emoji 2, any URL 23.

* :func:`browser_rule` describes the same rule for the browser counter (``static/limits.js``,
  which mirrors the counting as you type); the server's :func:`check` is what counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import regex
from twitter_text import extract_urls_with_indices, parse_tweet

Kind = Literal["reply", "direct"]

URL_LENGTH = 23  # what Mastodon and X count for any URL
_GRAPHEME = regex.compile(r"\X")
# "@anna@example.social" -> "@anna" (Mastodon counts only the local part of remote mentions).
_REMOTE_MENTION = regex.compile(r"(?<![\w@])(@[\w.-]+)@[\w.-]+\.\w+", regex.UNICODE)


@dataclass(frozen=True, slots=True)
class Rule:
    """A network's limit: at most ``limit`` units, counted by ``counting``."""

    network: str
    limit: int
    counting: Literal["mastodon", "graphemes", "x"]


@dataclass(frozen=True, slots=True)
class Measure:
    length: int
    limit: int | None

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else self.limit - self.length

    @property
    def over(self) -> bool:
        return self.limit is not None and self.length > self.limit


class TooLong(ValueError):
    """The text is longer than the network allows."""

    def __init__(self, length: int, limit: int) -> None:
        super().__init__(f"{length} > {limit}")
        self.length = length
        self.limit = limit


_DEFAULTS: dict[str, dict[str, Rule]] = {
    "mastodon": {
        "reply": Rule("mastodon", 500, "mastodon"),
        "direct": Rule("mastodon", 500, "mastodon"),  # a direct message is a status too
    },
    "bluesky": {
        "reply": Rule("bluesky", 300, "graphemes"),
        "direct": Rule("bluesky", 1000, "graphemes"),
    },
    "x": {"reply": Rule("x", 280, "x"), "direct": Rule("x", 10_000, "x")},
}
_ALIASES = {"twitter": "x"}


def rule_for(
    network: str | None, *, kind: Kind = "reply", config: Mapping[str, Any] | None = None
) -> Rule | None:
    """The rule for texts of this kind on this network, or ``None`` when there is no limit."""
    name = _ALIASES.get(network or "", network or "")
    rule = _DEFAULTS.get(name, {}).get(kind)
    if rule is None:
        return None
    override = (config or {}).get("max_characters")
    if kind == "reply" and type(override) is int and override > 0:
        return Rule(rule.network, override, rule.counting)
    return rule


def graphemes(text: str) -> int:
    """User-perceived characters (extended grapheme clusters)."""
    return len(_GRAPHEME.findall(text))


def _mastodon_length(text: str) -> int:
    text = _REMOTE_MENTION.sub(r"\1", text)
    urls = extract_urls_with_indices(text, False)
    parts, at = [], 0
    for url in urls:
        start, end = url["indices"]
        parts.append(text[at:start])
        parts.append("x" * URL_LENGTH)
        at = end
    parts.append(text[at:])
    return graphemes("".join(parts))


def length(rule: Rule, text: str) -> int:
    """The length of ``text`` as the rule's network counts it."""
    if rule.counting == "x":
        return parse_tweet(text).weightedLength
    if rule.counting == "mastodon":
        return _mastodon_length(text)
    return graphemes(text)


def measure(
    network: str | None,
    text: str,
    *,
    kind: Kind = "reply",
    config: Mapping[str, Any] | None = None,
) -> Measure:
    rule = rule_for(network, kind=kind, config=config)
    if rule is None:
        return Measure(len(text), None)
    return Measure(length(rule, text), rule.limit)


def check(
    network: str | None,
    text: str,
    *,
    kind: Kind = "reply",
    config: Mapping[str, Any] | None = None,
) -> Measure:
    """:func:`measure`, raising :class:`TooLong` when the text is over the limit."""
    m = measure(network, text, kind=kind, config=config)
    if m.over:
        assert m.limit is not None
        raise TooLong(m.length, m.limit)
    return m


def browser_rule(
    network: str | None, *, kind: Kind = "reply", config: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    """What ``static/limits.js`` needs as ``data-*`` attributes: ``limit``, ``counting``
    (``mastodon``, ``graphemes`` or ``x``) and ``url-length``; ``None`` when unlimited."""
    rule = rule_for(network, kind=kind, config=config)
    if rule is None:
        return None
    return {"limit": rule.limit, "counting": rule.counting, "url-length": URL_LENGTH}
