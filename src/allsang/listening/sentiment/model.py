"""The shipped sentiment model: a linear model over n-gram and lexicon features.

Loading reads ``model/model.json`` (vocabulary, classes, lexicons) and ``model/weights.bin``
(float32) with numpy — no pickle, no scikit-learn. ``scripts/train_sentiment.py`` writes them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from allsang.listening.sentiment.features import DENSE, extract

if TYPE_CHECKING:
    from allsang.listening.sentiment.corrections import Corrections

MODEL_DIR = Path(__file__).parent / "model"
LABELS = ("neg", "neu", "pos")


@dataclass(frozen=True, slots=True)
class Sentiment:
    """A prediction: ``label`` (pos/neu/neg), ``score`` = P(pos) − P(neg) in −1…1, and the
    features that pushed it most, as ``(feature, weight)`` with weight > 0 towards positive."""

    label: str
    score: float
    features: tuple[tuple[str, float], ...] = ()
    corrected: bool = False


class SentimentModel:
    """Predicts sentiment; immutable and safe to share between threads once loaded."""

    def __init__(self, model_dir: Path = MODEL_DIR) -> None:
        meta = json.loads((model_dir / "model.json").read_text("utf-8"))
        if meta.get("format") != 1 or tuple(meta["classes"]) != LABELS:
            raise ValueError(f"unsupported sentiment model in {model_dir}")
        if tuple(meta["dense"]) != DENSE:
            raise ValueError("the model was trained with other dense features; retrain it")
        names: list[str] = meta["features"]
        self.vocab = {name: i for i, name in enumerate(names)}
        self.names = names
        self.lexicons: dict[str, dict[str, float]] = meta["lexicons"]
        blob = np.fromfile(model_dir / "weights.bin", dtype="<f4").astype(np.float64)
        k = len(LABELS)
        width = len(names) + len(DENSE)
        if blob.size != width * k + k:
            raise ValueError("weights.bin does not match model.json")
        weights = blob[: width * k].reshape(width, k)
        self.sparse = weights[: len(names)]
        self.dense = weights[len(names) :]
        self.bias = blob[width * k :].tolist()
        self.rows: list[tuple[float, float, float]] = [tuple(r) for r in self.sparse.tolist()]
        self.dense_rows: list[tuple[float, float, float]] = [tuple(r) for r in self.dense.tolist()]

    def features(self, text: str, lang: str | None) -> tuple[list[int], list[float]]:
        """Vocabulary indexes of the text's sparse features, and its dense features."""
        names, dense = extract(text, lang, self.lexicons)
        vocab = self.vocab
        return [vocab[n] for n in names if n in vocab], dense

    def logits(self, idx: list[int], dense: list[float]) -> list[float]:
        """Class scores before the softmax, in :data:`LABELS` order."""
        # Plain Python over a few dozen rows beats numpy's per-call overhead here.
        rows = self.rows
        s0 = s1 = s2 = 0.0
        for i in idx:
            w0, w1, w2 = rows[i]
            s0 += w0
            s1 += w1
            s2 += w2
        scale = 1.0 / math.sqrt(len(idx)) if idx else 0.0
        out = [self.bias[0] + scale * s0, self.bias[1] + scale * s1, self.bias[2] + scale * s2]
        for value, (w0, w1, w2) in zip(dense, self.dense_rows, strict=True):
            if value:
                out[0] += value * w0
                out[1] += value * w1
                out[2] += value * w2
        return out

    def predict(
        self,
        text: str,
        lang: str | None = None,
        corrections: Corrections | None = None,
        explain: int = 0,
    ) -> Sentiment:
        """Sentiment of ``text`` in ``lang`` (sv, nb, nn, no, da, fi, en; other/None = any).

        ``corrections`` (one workspace's) can override or nudge the result; ``explain`` asks
        for that many top features (0 keeps prediction cheapest).
        """
        if corrections is not None:
            override = corrections.override(text)
            if override is not None:
                return override
        idx, dense = self.features(text, lang)
        logits = self.logits(idx, dense)
        if corrections is not None:
            logits = [a + b for a, b in zip(logits, corrections.nudge(idx), strict=True)]
        top_logit = max(logits)
        exps = [math.exp(x - top_logit) for x in logits]
        total = sum(exps)
        label = LABELS[exps.index(max(exps))]
        score = round((exps[2] - exps[0]) / total, 4)
        top: tuple[tuple[str, float], ...] = ()
        if explain:
            top = self._explain(idx, dense, explain)
        return Sentiment(label, score, top)

    def _explain(self, idx: list[int], dense: list[float], n: int) -> tuple[tuple[str, float], ...]:
        # Each feature's pull towards positive: its value times (w_pos − w_neg).
        scale = 1.0 / np.sqrt(len(idx)) if idx else 0.0
        pulls = [(self.names[i], scale * (self.sparse[i, 2] - self.sparse[i, 0])) for i in idx]
        pulls += [
            (f"lexicon:{name}", value * (self.dense[j, 2] - self.dense[j, 0]))
            for j, (name, value) in enumerate(zip(DENSE, dense, strict=True))
            if value
        ]
        pulls.sort(key=lambda p: abs(p[1]), reverse=True)
        return tuple((name, round(float(w), 4)) for name, w in pulls[:n])


@cache
def default_model() -> SentimentModel:
    """The model shipped in the package, loaded once."""
    return SentimentModel()


def analyse(text: str, lang: str | None = None, top: int = 5) -> Sentiment:
    """Sentiment of ``text`` with the shipped model and its ``top`` driving features."""
    return default_model().predict(text, lang, explain=top)
