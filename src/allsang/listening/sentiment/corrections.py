"""Per-workspace corrections of sentiment, as a pure in-memory structure.

Built from stored ``(text, label)`` pairs (the storage comes later). Two effects:

* **override** — a later text that is (nearly) the same as a corrected one, by token-set
  Jaccard similarity ≥ ``threshold``, gets the corrected label outright (reposts, templates);
* **nudge** — each correction moves the weights of its word and word-pair features towards
  its label by one gradient step, so similar texts that share words lean the same way.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from allsang.listening.sentiment.model import LABELS, Sentiment, SentimentModel, default_model
from allsang.listening.text import normalize, tokenize

_SCORES = {"neg": -0.9, "neu": 0.0, "pos": 0.9}


def _shingles(text: str) -> frozenset[str]:
    return frozenset(normalize(t.text) for t in tokenize(text) if t.kind != "url")


class Corrections:
    """One workspace's corrections; immutable once built, rebuild to add more."""

    def __init__(
        self,
        pairs: Iterable[tuple[str, str]],
        model: SentimentModel | None = None,
        *,
        threshold: float = 0.8,
        step: float = 2.0,
    ) -> None:
        self.model = model or default_model()
        self.threshold = threshold
        self._texts: list[tuple[frozenset[str], str]] = []
        self._by_token: dict[str, list[int]] = {}
        self._nudges: dict[int, np.ndarray] = {}
        for text, label in pairs:
            if label not in LABELS:
                raise ValueError(f"a correction's label must be one of {LABELS}, not {label!r}")
            self._add(text, label, step)

    def _add(self, text: str, label: str, step: float) -> None:
        shingles = _shingles(text)
        number = len(self._texts)
        self._texts.append((shingles, label))
        for token in shingles:
            self._by_token.setdefault(token, []).append(number)
        idx, dense = self.model.features(text, None)
        if not idx:
            return
        logits = np.array(self.model.logits(idx, dense)) + self.nudge(idx)
        # Only words and word pairs are nudged: character n-grams are shared by unrelated
        # words, so nudging them would shift texts that have nothing to do with the correction.
        names = self.model.names
        idx = [i for i in idx if not names[i].startswith("c:")]
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        target = np.zeros(len(LABELS))
        target[LABELS.index(label)] = 1.0
        # The gradient of the log-loss for this one text, spread over its features.
        delta = step * (target - probs)
        for i in idx:
            self._nudges[i] = self._nudges.get(i, 0.0) + delta

    def __len__(self) -> int:
        return len(self._texts)

    def override(self, text: str) -> Sentiment | None:
        """The corrected label of the most similar corrected text, if similar enough."""
        shingles = _shingles(text)
        if not shingles:
            return None
        best, best_label = 0.0, ""
        seen: set[int] = set()
        for token in shingles:
            for number in self._by_token.get(token, ()):
                if number in seen:
                    continue
                seen.add(number)
                other, label = self._texts[number]
                similarity = len(shingles & other) / len(shingles | other)
                if similarity > best:
                    best, best_label = similarity, label
        if best < self.threshold:
            return None
        reason = (("correction:similar text", round(best, 3)),)
        return Sentiment(best_label, _SCORES[best_label], reason, corrected=True)

    def nudge(self, idx: list[int]) -> np.ndarray:
        """The logit shift that the corrections add for these feature indexes."""
        total = np.zeros(len(LABELS))
        for i in idx:
            delta = self._nudges.get(i)
            if delta is not None:
                total += delta
        return total / np.sqrt(len(idx)) if idx else total
