"""Precision and recall of the intent rules, per intent and language.

Two sets: the project's labelled sample (``data/intent_sample.jsonl``, written for the
project, several intents per message) and the bundled demo data's hidden answer key
(``demo_labels.intent``, one intent per message, written by someone else and never used to
tune the rules). Run ``python -m tests.listening.test_intent_eval`` for the tables recorded
in docs/listening.md; the tests hold the figures above floors so a rule change that breaks a
language shows up.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from allsang.listening.intent import INTENTS, LANGUAGES, detect_intents, primary_intent

SAMPLE = Path(__file__).parent / "data" / "intent_sample.jsonl"
DEMO = Path(__file__).parents[2] / "src" / "allsang" / "demo" / "messages.jsonl"


@dataclass
class Scores:
    tp: Counter[tuple[str, str]]
    fp: Counter[tuple[str, str]]
    fn: Counter[tuple[str, str]]
    messages: Counter[str]
    primary_correct: Counter[str]

    def precision(self, intent: str, lang: str) -> float | None:
        found = self.tp[intent, lang] + self.fp[intent, lang]
        return self.tp[intent, lang] / found if found else None

    def recall(self, intent: str, lang: str) -> float | None:
        labelled = self.tp[intent, lang] + self.fn[intent, lang]
        return self.tp[intent, lang] / labelled if labelled else None


def score(rows: list[tuple[str, str, set[str]]], *, single_label: bool) -> Scores:
    """Count hits per (intent, language) and over "all"; with ``single_label`` the
    prediction is :func:`primary_intent` (for sets that give one intent per message)."""
    result = Scores(Counter(), Counter(), Counter(), Counter(), Counter())
    for text, lang, gold in rows:
        found = detect_intents(text, lang)
        primary = primary_intent(found)
        predicted = ({primary} - {None}) if single_label else {i.name for i in found}
        for where in (lang, "all"):
            result.messages[where] += 1
            result.primary_correct[where] += primary == (min(gold) if gold else None)
            for intent in INTENTS:
                if intent in predicted and intent in gold:
                    result.tp[intent, where] += 1
                elif intent in predicted:
                    result.fp[intent, where] += 1
                elif intent in gold:
                    result.fn[intent, where] += 1
    return result


def sample_rows() -> list[tuple[str, str, set[str]]]:
    rows = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
    return [(r["text"], r["lang"], set(r["intents"])) for r in rows]


def demo_rows() -> list[tuple[str, str, set[str]]]:
    rows = [json.loads(line) for line in DEMO.read_text(encoding="utf-8").splitlines()]
    return [
        (r["text"], r["lang"], {r["demo_labels"]["intent"]} - {"other"})
        for r in rows
        if r.get("demo_labels", {}).get("intent")
    ]


def table(scores: Scores) -> str:
    def cell(value: float | None) -> str:
        return "–" if value is None else f"{value:.2f}"

    head = "| lang | n | " + " | ".join(INTENTS) + " |"
    lines = [head, "|" + "---|" * (len(INTENTS) + 2)]
    for lang in (*LANGUAGES, "all"):
        cells = [
            f"{cell(scores.precision(i, lang))} / {cell(scores.recall(i, lang))}" for i in INTENTS
        ]
        lines.append(f"| {lang} | {scores.messages[lang]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def test_the_sample_has_at_least_forty_labelled_messages_per_language() -> None:
    per_language = Counter(lang for _text, lang, _gold in sample_rows())
    assert set(per_language) == set(LANGUAGES)
    assert min(per_language.values()) >= 40
    labelled = Counter(intent for _t, _l, gold in sample_rows() for intent in gold)
    assert set(labelled) == set(INTENTS)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_intent_is_found_with_good_precision_and_recall_in_each_language(
    lang: str,
) -> None:
    scores = score(sample_rows(), single_label=False)
    for intent in INTENTS:
        assert (scores.precision(intent, lang) or 0) >= 0.75, (intent, lang)
        assert (scores.recall(intent, lang) or 0) >= 0.75, (intent, lang)


def test_the_rules_beat_the_majority_class_on_the_independent_demo_set() -> None:
    rows = demo_rows()
    scores = score(rows, single_label=True)
    majority = max(Counter(min(gold) if gold else None for _t, _l, gold in rows).values())
    assert scores.primary_correct["all"] / len(rows) > majority / len(rows) + 0.1
    for intent in INTENTS:
        assert (scores.precision(intent, "all") or 0) >= 0.2, intent


if __name__ == "__main__":
    print("Project sample (multi-label):\n")
    print(table(score(sample_rows(), single_label=False)))
    if DEMO.exists():  # the demo data is built separately (src/allsang/demo/build.py)
        demo = score(demo_rows(), single_label=True)
        accuracy = demo.primary_correct["all"] / demo.messages["all"]
        print(f"\nDemo answer key (single label, primary intent; accuracy {accuracy:.3f}):\n")
        print(table(demo))
