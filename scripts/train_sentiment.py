"""Train the shipped sentiment model from the shared data sets.

    pip install scikit-learn   # training only; inference needs numpy alone
    python scripts/train_sentiment.py [--shared DIR] [--out DIR] [--c 0.5]

Training data: NoReC_sentence 3-class train (nb, CC BY-NC 4.0; the authors allow commercial
use of models trained on it) and ABSAbank-Imm train (sv, CC BY 4.0; stance towards
immigration 1–5, mapped to neg ≤ 2.0 < neu < 4.0 ≤ pos and down-weighted because stance is
not sentiment). Danish LCC is kept out: it is the unseen-language test. Lexicons: AFINN
sv/da/no/en and emoticons (Apache-2.0), VADER-sv from asent (MIT), and the project's own
``extra_lexicon.json`` (emoji, Finnish).

Writes ``model.json`` (vocabulary, classes, lexicons, provenance) and ``weights.bin``
(little-endian float32 coefficients, then intercepts) into
``src/allsang/listening/sentiment/model/``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix, hstack
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from allsang.listening.sentiment.features import DENSE, extract  # noqa: E402

CLASSES = ("neg", "neu", "pos")
PACKAGE = ROOT / "src/allsang/listening/sentiment"
NOREC_LABELS = {"Negative": "neg", "Neutral": "neu", "Positive": "pos"}
MIN_DF = 2
ABSA_WEIGHT = 0.3


def shared_dir(arg: str | None) -> Path:
    """The shared folder: --shared, ALLSANG_SHARED_DIR, or ../shared beside the repository."""
    return Path(arg or os.environ.get("ALLSANG_SHARED_DIR") or ROOT.parent / "shared")


def read_lexicon(path: Path) -> dict[str, float]:
    """Single-token entries of a word<TAB>valence file (later columns ignored)."""
    out: dict[str, float] = {}
    for line in path.read_text("utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) >= 2 and " " not in parts[0]:
            out.setdefault(parts[0].lower(), float(parts[1]))
    return out


def build_lexicons(shared: Path) -> dict[str, dict[str, float]]:
    data = shared / "data"
    extra = json.loads((PACKAGE / "extra_lexicon.json").read_text("utf-8"))
    lex = {
        "sv": read_lexicon(data / "afinn/AFINN-sv-165.txt"),
        "da": read_lexicon(data / "afinn/AFINN-da-32.txt"),
        "no": read_lexicon(data / "afinn/AFINN-no-165.txt"),
        "en": read_lexicon(data / "afinn/AFINN-en-165.txt"),
        "fi": {k: float(v) for k, v in extra["fi"].items()},
    }
    # VADER-sv valences are on a -4..4 scale: rescale to AFINN's -5..5.
    for word, value in read_lexicon(data / "asent-lexicons/sv_lexicon_v1.txt").items():
        lex["sv"].setdefault(word, round(value * 1.25, 2))
    emoji = {k: float(v) for k, v in extra["emoji"].items()}
    emoji.update(read_lexicon(data / "afinn/AFINN-emoticon-8.txt"))
    lex["all"] = {}
    for name in ("en", "sv", "da", "no", "fi"):
        for word, value in lex[name].items():
            lex["all"].setdefault(word, value)
    lex["emoji"] = emoji
    return lex


def load_norec(shared: Path, split: str, kind: str = "3class") -> list[tuple[str, str]]:
    rows = json.loads((shared / f"data/norec_sentence/{kind}/{split}.json").read_text("utf-8"))
    return [(r["text"], NOREC_LABELS[r["label"]]) for r in rows]


def load_absa(shared: Path, split: str) -> list[tuple[str, str]]:
    path = shared / f"data/absabank-imm/absabank-imm_{split}.tsv"
    with path.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    out = []
    for r in rows:
        value = float(r["label"])
        out.append((r["text"], "neg" if value <= 2.0 else "pos" if value >= 4.0 else "neu"))
    return out


def featurize(
    rows: list[tuple[str, str]], lang: str, lex: dict[str, dict[str, float]]
) -> list[tuple[list[str], list[float]]]:
    return [extract(text, lang, lex) for text, _ in rows]


def to_matrix(feats: list[tuple[list[str], list[float]]], vocab: dict[str, int]) -> csr_matrix:
    """Binary sparse features scaled to unit length, then the dense lexicon features."""
    indptr, indices, values = [0], [], []
    for names, _ in feats:
        idx = sorted({vocab[n] for n in names if n in vocab})
        scale = 1.0 / np.sqrt(len(idx)) if idx else 0.0
        indices.extend(idx)
        values.extend([scale] * len(idx))
        indptr.append(len(indices))
    sparse = csr_matrix((values, indices, indptr), shape=(len(feats), len(vocab)))
    dense = csr_matrix(np.array([d for _, d in feats], dtype=np.float64))
    return hstack([sparse, dense]).tocsr()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", help="the shared folder (default: ALLSANG_SHARED_DIR)")
    parser.add_argument("--out", type=Path, default=PACKAGE / "model")
    parser.add_argument("--c", type=float, default=None, help="fix C instead of picking on dev")
    args = parser.parse_args()
    shared = shared_dir(args.shared)
    lex = build_lexicons(shared)

    train_no, dev_no = load_norec(shared, "train"), load_norec(shared, "dev")
    train_sv, dev_sv = load_absa(shared, "train"), load_absa(shared, "dev")
    f_train = featurize(train_no, "nb", lex) + featurize(train_sv, "sv", lex)
    y_train = [label for _, label in train_no + train_sv]
    weights = [1.0] * len(train_no) + [ABSA_WEIGHT] * len(train_sv)
    df = Counter(n for names, _ in f_train for n in set(names))
    vocab = {n: i for i, n in enumerate(sorted(n for n, c in df.items() if c >= MIN_DF))}
    x_train = to_matrix(f_train, vocab)
    x_dev_no = to_matrix(featurize(dev_no, "nb", lex), vocab)
    x_dev_sv = to_matrix(featurize(dev_sv, "sv", lex), vocab)
    y_dev_no = [label for _, label in dev_no]
    y_dev_sv = [label for _, label in dev_sv]

    best: tuple[float, float, LogisticRegression] | None = None
    for c in [args.c] if args.c else [0.5, 1.0, 2.0, 4.0]:
        model = LogisticRegression(C=c, class_weight="balanced", max_iter=2000)
        model.fit(x_train, y_train, sample_weight=weights)
        f1_no = f1_score(y_dev_no, model.predict(x_dev_no), average="macro")
        f1_sv = f1_score(y_dev_sv, model.predict(x_dev_sv), average="macro")
        print(f"C={c}: NoReC dev macro-F1 {f1_no:.3f}, ABSAbank dev {f1_sv:.3f}", flush=True)
        if best is None or f1_no > best[0]:
            best = (f1_no, c, model)
    assert best is not None
    _, c, model = best
    assert tuple(model.classes_) == CLASSES

    args.out.mkdir(parents=True, exist_ok=True)
    names = sorted(vocab, key=vocab.__getitem__)
    coef = model.coef_.astype("<f4")  # (classes, features + dense)
    # No training text has emoji, so their learned weights are noise: give emoji polarity the
    # weight the model learned for word polarity from the lexicons.
    for emoji_feature, word_feature in (("emoji_pos", "lex_pos"), ("emoji_neg", "lex_neg")):
        coef[:, len(names) + DENSE.index(emoji_feature)] = coef[
            :, len(names) + DENSE.index(word_feature)
        ]
    # Drop features whose weights are all tiny: they never change a prediction.
    keep = np.abs(coef[:, : len(names)]).max(axis=0) >= 1e-3
    kept_names = [n for n, k in zip(names, keep, strict=True) if k]
    kept = np.concatenate([coef[:, : len(names)][:, keep], coef[:, len(names) :]], axis=1)
    blob = np.concatenate([kept.T.ravel(), model.intercept_.astype("<f4")])
    (args.out / "weights.bin").write_bytes(blob.astype("<f4").tobytes())
    meta = {
        "format": 1,
        "classes": list(CLASSES),
        "features": kept_names,
        "dense": list(DENSE),
        "C": c,
        "lexicons": lex,
        "provenance": {
            "train": ["NoReC_sentence 3class/train.json", "ABSAbank-Imm train (stance mapped)"],
            "lexicons": ["AFINN sv/da/no/en/emoticon (Apache-2.0)", "asent VADER-sv (MIT)"],
            "script": "scripts/train_sentiment.py",
        },
    }
    (args.out / "model.json").write_text(json.dumps(meta, ensure_ascii=False), "utf-8")
    print(f"C={c}: {len(kept_names)} sparse features kept of {len(names)}; wrote {args.out}")


if __name__ == "__main__":
    main()
