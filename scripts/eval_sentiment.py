"""Macro-F1 of the shipped sentiment model beside a plain AFINN-sum baseline, in one run.

    python scripts/eval_sentiment.py [--shared DIR]

Sets: NoReC_sentence test 3-class and binary (nb) and Danish LCC (499 annotated sentences,
valence −5…5 → neg < 0 = neu < pos; never trained on). The AFINN baseline sums the
language's AFINN valences over lower-cased word tokens (sign → label). asent is not measured
here: it needs spaCy, which this project does not install. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

from sklearn.metrics import f1_score

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from train_sentiment import load_norec, read_lexicon, shared_dir  # noqa: E402

from allsang.listening.sentiment import default_model  # noqa: E402
from allsang.listening.text import tokenize  # noqa: E402


def afinn_label(text: str, lexicon: dict[str, float]) -> str:
    total = sum(lexicon.get(t.text.lower(), 0.0) for t in tokenize(text))
    return "pos" if total > 0 else "neg" if total < 0 else "neu"


def load_lcc(shared: Path) -> list[tuple[str, str]]:
    rows = []
    for name in ("dan_mixed_2014_10K-sentences.csv", "dan_newscrawl_2011_10K-sentences.csv"):
        with (shared / "data/lcc-sentiment-da" / name).open(encoding="utf-8") as fh:
            for r in csv.DictReader(fh, skipinitialspace=True):
                if r["valence"].strip():
                    v = float(r["valence"])
                    rows.append((r["text"], "pos" if v > 0 else "neg" if v < 0 else "neu"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", help="the shared folder (default: ALLSANG_SHARED_DIR)")
    args = parser.parse_args()
    shared = shared_dir(args.shared)
    model = default_model()
    sets = [
        ("NoReC_sentence test 3-class", load_norec(shared, "test"), "nb", "no", False),
        ("NoReC_sentence test binary", load_norec(shared, "test", "binary"), "nb", "no", True),
        ("LCC da 3-class", load_lcc(shared), "da", "da", False),
        ("LCC da pos/neg only", [r for r in load_lcc(shared) if r[1] != "neu"], "da", "da", True),
    ]
    print("| set | texts | Allsang model | AFINN sum | Allsang texts/s |")
    print("|---|---|---|---|---|")
    for name, rows, lang, afinn, binary in sets:
        lexicon = read_lexicon(
            shared / f"data/afinn/AFINN-{afinn}-{'32' if afinn == 'da' else '165'}.txt"
        )
        gold = [label for _, label in rows]
        start = time.perf_counter()
        results = [model.predict(text, lang) for text, _ in rows]
        rate = len(rows) / (time.perf_counter() - start)
        if binary:  # two classes: the sign of the score decides
            ours = ["pos" if r.score >= 0 else "neg" for r in results]
            base = [afinn_label(t, lexicon) for t, _ in rows]
            base = [b if b != "neu" else "pos" for b in base]
        else:
            ours = [r.label for r in results]
            base = [afinn_label(t, lexicon) for t, _ in rows]
        f_ours = f1_score(gold, ours, average="macro")
        f_base = f1_score(gold, base, average="macro")
        print(f"| {name} | {len(rows)} | {f_ours:.3f} | {f_base:.3f} | {rate:,.0f} |")


if __name__ == "__main__":
    main()
