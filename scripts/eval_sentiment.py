"""Macro-F1 of the shipped sentiment model beside baselines measured in the same run.

    python scripts/eval_sentiment.py [--shared DIR]

Sets: NoReC_sentence test 3-class and binary (nb) and Danish LCC (499 annotated sentences,
valence −5…5 → neg < 0 = neu < pos; never trained on), 3-class and its pos/neg sentences.
Baselines: a plain AFINN sum (the language's AFINN valences over lower-cased word tokens,
sign → label) and, when ``asent`` is importable, asent (``spacy.blank`` + sentencizer +
``asent_{no,da}_v1``, compound ±0.05, as its docs suggest). asent is not a project dependency:
install it beside (``pip install asent``; it needs spaCy but no model download). On the
two-class sets every system's score sign decides (0 counts as positive).
Prints a Markdown table; texts/s is the shipped model's, single thread, first pass.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from sklearn.metrics import f1_score

from allsang.listening.sentiment import SentimentModel
from allsang.listening.sentiment.datasets import (
    load_lcc,
    load_norec,
    read_lexicon,
    shared_dir,
)
from allsang.listening.text import tokenize

Scorer = Callable[[str], float]


def afinn_scorer(lexicon: dict[str, float]) -> Scorer:
    return lambda text: sum(lexicon.get(t.text.lower(), 0.0) for t in tokenize(text))


def asent_scorer(lang: str) -> Scorer | None:
    """asent's compound polarity for ``lang`` (nb or da), or None when it is not installed."""
    try:  # optional, only for this comparison; importing asent registers its spaCy pipes
        import asent  # noqa: F401
        import spacy
    except ImportError:
        return None
    nlp = spacy.blank(lang)
    nlp.add_pipe("sentencizer")
    nlp.add_pipe(f"asent_{'no' if lang == 'nb' else lang}_v1")
    return lambda text: float(nlp(text)._.polarity.compound)


def label(score: float, neutral: float) -> str:
    return "pos" if score > neutral else "neg" if score < -neutral else "neu"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", help="the shared folder (default: ALLSANG_SHARED_DIR)")
    args = parser.parse_args()
    shared = shared_dir(args.shared)
    model = SentimentModel()
    afinn = {
        "nb": read_lexicon(shared / "data/afinn/AFINN-no-165.txt"),
        "da": read_lexicon(shared / "data/afinn/AFINN-da-32.txt"),
    }
    lcc = load_lcc(shared)
    sets = [
        ("NoReC_sentence test 3-class", load_norec(shared, "test"), "nb", False),
        ("NoReC_sentence test binary", load_norec(shared, "test", "binary"), "nb", True),
        ("LCC da 3-class", lcc, "da", False),
        ("LCC da pos/neg only", [r for r in lcc if r[1] != "neu"], "da", True),
    ]
    asent = {lang: asent_scorer(lang) for lang in ("nb", "da")}
    print("| set | texts | Allsang model | AFINN sum | asent | Allsang texts/s |")
    print("|---|---|---|---|---|---|")
    for name, rows, lang, binary in sets:
        gold = [g for _, g in rows]
        start = time.perf_counter()
        results = [model.predict(text, lang) for text, _ in rows]
        rate = len(rows) / (time.perf_counter() - start)
        if binary:
            ours = ["pos" if r.score >= 0 else "neg" for r in results]
        else:
            ours = [r.label for r in results]
        cells = [f1_score(gold, ours, average="macro")]
        for scorer, neutral in ((afinn_scorer(afinn[lang]), 0.0), (asent[lang], 0.05)):
            if scorer is None:
                cells.append(None)
                continue
            scores = [scorer(text) for text, _ in rows]
            if binary:
                predicted = ["pos" if s >= 0 else "neg" for s in scores]
            else:
                predicted = [label(s, neutral) for s in scores]
            cells.append(f1_score(gold, predicted, average="macro"))
        shown = " | ".join("not installed" if c is None else f"{c:.3f}" for c in cells)
        print(f"| {name} | {len(rows)} | {shown} | {rate:,.0f} |")


if __name__ == "__main__":
    main()
