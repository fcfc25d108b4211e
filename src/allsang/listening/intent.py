"""Intent signals: question, complaint, praise, sales lead, job/HR and press request.

Rules, not a model: no labelled intent data in these languages has a licence that lets the
project train on it, and the project's own labelled sample is the evaluation set (see
docs/listening.md for the measured precision and recall). The rules are data
(``intent_rules.json``), one list of weighted phrases per intent and language:

* a phrase is words separated by spaces; ``*`` at the end of a word allows any ending
  (``besvik*``), a leading ``!`` marks a phrase that a preceding negator flips
  (``inte nöjd`` is a complaint, ``not bad`` is praise) — phrases that already contain their
  own negation (``fungerar inte``) carry no ``!``;
* phrases match on word boundaries, case-insensitively;
* questions are found from a question mark at the end of a sentence, an interrogative or a
  verb-first question at its start (``Har ni …``, ``Kan dere …``), and the Finnish ``-ko/-kö``
  clitic on the first word.

Each hit has a weight in 0…1; an intent's confidence is the noisy-OR of its hits,
``1 − Π(1 − w)``, so two weak hits together pass where one does not. A message can carry
several intents. Every intent comes with the evidence that raised it (rule, matched text and
character span), so the app can show why.

The rules of the detected language are used together with English (code-switching is common),
and the Scandinavian languages share each other's rules because language identification
confuses them on short posts. With no language, or an unsupported one, all rules apply.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

INTENTS = ("question", "complaint", "praise", "sales_lead", "job", "press")
LANGUAGES = ("sv", "nb", "nn", "da", "fi", "en")
THRESHOLD = 0.5
_SCANDINAVIAN = ("sv", "nb", "nn", "da")
_RULES_FILE = Path(__file__).with_name("intent_rules.json")
# A negator flips a phrase when it stands at most this many words before it, in one clause.
_NEGATION_WINDOW = 3
_CLAUSE_END = re.compile(r"[.!?;:\n]|,\s*(?:men|but|mutta|og|and)\b", re.I)
_WORD = re.compile(r"\w+(?:['’]\w+)*")
_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+|\n|$)")
# Where a sentence "starts" once greetings, handles and a leading emoji are skipped.
_OPENING = re.compile(
    r"^(?:\s|@\S+|#\S+|[^\w\s]|(?:hej|hei|hey|hi|hello|moi|moikka|terve|hallo|halløj)\b[,!]?)*",
    re.I,
)
_QUESTION_MARK = re.compile(r"\?[\s?!\W]*$")
_FINNISH_CLITIC = re.compile(r"^\w+?(?:ko|kö)(?:han|hän|s)?\b", re.I)
_FLIPS = {"praise": "complaint", "complaint": "praise"}
# A negated praise phrase is a fairly sure complaint; a negated complaint is only mild praise.
_FLIP_WEIGHT = {"praise": 0.8, "complaint": 0.6}
_PRECEDENCE = ("press", "job", "sales_lead", "complaint", "praise", "question")
# A sentiment score this far from neutral counts as evidence of the matching intent, with a
# weight below the threshold: it supports a rule's hit but does not decide alone.
_SENTIMENT_CUE = 0.5
_SENTIMENT_WEIGHT = 0.4
# Repeating a phrase adds little; capping its hits keeps 5,000 emoji in a row cheap.
_MAX_HITS_PER_PHRASE = 3
MAX_TEXT = 5000  # characters examined; intent is in the opening of a post


@dataclass(frozen=True, slots=True)
class Evidence:
    """Why an intent was raised: the rule, the text it matched and where (character span)."""

    rule: str
    text: str
    start: int
    end: int
    weight: float


@dataclass(frozen=True, slots=True)
class Intent:
    """One detected intent with a confidence in 0…1 and the evidence behind it."""

    name: str
    confidence: float
    evidence: tuple[Evidence, ...]


@dataclass(frozen=True, slots=True)
class _Phrase:
    intent: str
    source: str
    regex: re.Pattern[str]
    weight: float
    negatable: bool
    needle: str  # a literal every match contains (casefolded), checked before the regex


@dataclass(frozen=True, slots=True)
class _Rules:
    phrases: tuple[_Phrase, ...]
    negators: re.Pattern[str] | None
    openers: re.Pattern[str] | None


def _phrase_regex(phrase: str) -> re.Pattern[str]:
    parts = []
    for word in phrase.split():
        if word.endswith("*"):
            parts.append(re.escape(word[:-1]) + r"\w*")
        else:
            parts.append(re.escape(word))
    return re.compile(r"(?<!\w)" + r"\s+".join(parts) + r"(?!\w)", re.I)


def _alternation(words: list[str]) -> re.Pattern[str] | None:
    if not words:
        return None
    ordered = sorted(words, key=len, reverse=True)
    return re.compile(
        r"(?<!\w)(?:" + "|".join(_phrase_regex(w).pattern for w in ordered) + ")", re.I
    )


@cache
def _raw_rules() -> dict[str, dict[str, object]]:
    data: dict[str, dict[str, object]] = json.loads(_RULES_FILE.read_text(encoding="utf-8"))
    return data


@cache
def _rules(langs: tuple[str, ...]) -> _Rules:
    raw = _raw_rules()
    phrases: list[_Phrase] = []
    negators: list[str] = []
    openers: list[str] = []
    for lang in langs:
        negators += raw["negators"].get(lang, [])  # type: ignore[attr-defined]
        openers += raw["question_openers"].get(lang, [])  # type: ignore[attr-defined]
        for intent in INTENTS:
            if intent == "question":
                continue
            table: dict[str, list[list[object]]] = raw["intents"][intent]  # type: ignore[assignment]
            for source, weight in table.get(lang, []):
                text = str(source)
                negatable = text.startswith("!")
                text = text.lstrip("!")
                needle = text.split()[0].rstrip("*").casefold()
                phrases.append(
                    _Phrase(intent, text, _phrase_regex(text), float(weight), negatable, needle)  # type: ignore[arg-type]
                )
    # Longer phrases first, so "tack för ingenting" claims its words before "tack" does.
    phrases.sort(key=lambda p: len(p.source), reverse=True)
    return _Rules(tuple(phrases), _alternation(negators), _alternation(openers))


def _languages(lang: str | None) -> tuple[str, ...]:
    if lang == "no":
        lang = "nb"
    if lang in _SCANDINAVIAN:
        return (*_SCANDINAVIAN, "en")
    if lang in LANGUAGES:
        return (lang, "en") if lang != "en" else ("en",)
    return LANGUAGES


def _negated(text: str, start: int, negators: re.Pattern[str] | None) -> bool:
    if negators is None:
        return False
    before = text[max(0, start - 80) : start]
    clause_ends = list(_CLAUSE_END.finditer(before))
    if clause_ends:
        before = before[clause_ends[-1].end() :]
    words = _WORD.findall(before)[-_NEGATION_WINDOW:]
    window = " ".join(words)
    return bool(negators.search(window)) or any(w.lower().endswith(("n't", "n’t")) for w in words)


def _question_evidence(text: str, openers: re.Pattern[str] | None, fi: bool) -> list[Evidence]:
    found: list[Evidence] = []
    for sentence in _SENTENCE.finditer(text):
        body = sentence.group()
        mark = _QUESTION_MARK.search(body)
        if mark and body.strip() != "?":
            at = sentence.start() + mark.start()
            found.append(Evidence("question mark", "?", at, at + 1, 0.75))
        skip = _OPENING.match(body)
        offset = skip.end() if skip else 0
        rest = body[offset:]
        opener = openers.match(rest) if openers else None
        if opener:
            at = sentence.start() + offset
            found.append(
                Evidence("interrogative opening", opener.group(), at, at + opener.end(), 0.6)
            )
        elif fi:
            clitic = _FINNISH_CLITIC.match(rest)
            if clitic:
                at = sentence.start() + offset
                found.append(
                    Evidence("Finnish -ko/-kö question", clitic.group(), at, at + clitic.end(), 0.6)
                )
    return found


def detect_intents(
    text: str,
    lang: str | None = None,
    *,
    sentiment_score: float | None = None,
    threshold: float = THRESHOLD,
) -> list[Intent]:
    """Intents of ``text`` with confidence ≥ ``threshold``, most confident first.

    ``lang`` is the detected language (sv, nb, nn, da, fi, en; anything else uses all rules).
    ``sentiment_score`` (−1…1, from the sentiment model, when the caller has it) adds weak
    evidence: a clearly negative message leans towards a complaint, a clearly positive one
    towards praise; on its own it never reaches the threshold.
    Never raises for any ``str``; only the first :data:`MAX_TEXT` characters are examined.
    """
    return [
        i
        for i in score_intents(text, lang, sentiment_score=sentiment_score)
        if i.confidence >= threshold
    ]


def primary_intent(intents: list[Intent]) -> str | None:
    """The one intent to file a message under when only one is wanted.

    The most specific intent wins (press, job, sales lead before complaint and praise, and
    those before a bare question): a journalist's question is a press request first.
    """
    names = {i.name for i in intents}
    return next((name for name in _PRECEDENCE if name in names), None)


def score_intents(
    text: str, lang: str | None = None, *, sentiment_score: float | None = None
) -> list[Intent]:
    """Every intent with any evidence at all, with its confidence, most confident first."""
    text = text[:MAX_TEXT]
    langs = _languages(lang)
    rules = _rules(langs)
    hits: dict[str, list[Evidence]] = {name: [] for name in INTENTS}
    hits["question"] = _question_evidence(text, rules.openers, "fi" in langs)
    # A stretch of text is evidence for one reading only: "tack för ingenting" is not also
    # praise for its "tack", and "not happy" is not also praise for "happy".
    covered = bytearray(len(text))
    folded = text.casefold()
    for phrase in rules.phrases:
        if phrase.needle not in folded:
            continue
        for number, match in enumerate(phrase.regex.finditer(text)):
            if number == _MAX_HITS_PER_PHRASE:
                break
            start, end = match.span()
            intent, weight, rule = phrase.intent, phrase.weight, phrase.source
            if phrase.negatable and _negated(text, start, rules.negators):
                if intent not in _FLIPS:
                    continue
                weight *= _FLIP_WEIGHT[intent]
                intent, rule = _FLIPS[intent], f"negated {rule}"
            if any(covered[start:end]):
                continue
            covered[start:end] = b"\x01" * (end - start)
            hits[intent].append(Evidence(rule, match.group(), start, end, weight))
    if sentiment_score is not None and abs(sentiment_score) >= _SENTIMENT_CUE:
        leaning = "complaint" if sentiment_score < 0 else "praise"
        hits[leaning].append(
            Evidence(f"sentiment {sentiment_score:+.2f}", "", 0, 0, _SENTIMENT_WEIGHT)
        )
    result = []
    for name, evidence in hits.items():
        if evidence:
            miss = math.prod(1.0 - e.weight for e in evidence)
            ordered = tuple(sorted(evidence, key=lambda e: e.start))
            result.append(Intent(name, round(1.0 - miss, 4), ordered))
    result.sort(key=lambda i: (-i.confidence, INTENTS.index(i.name)))
    return result
