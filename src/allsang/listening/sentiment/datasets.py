"""Readers for the shared sentiment data sets (training, evaluation and the quality tests).

The data lives outside the repository in ``shared/data/`` (see its README and each folder's
``PROVENANCE.txt``); :func:`shared_dir` finds it. Labels are ``neg``/``neu``/``pos``.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
NOREC_LABELS = {"Negative": "neg", "Neutral": "neu", "Positive": "pos"}
LCC_FILES = ("dan_mixed_2014_10K-sentences.csv", "dan_newscrawl_2011_10K-sentences.csv")

Rows = list[tuple[str, str]]


def shared_dir(arg: str | None = None) -> Path:
    """The shared folder: ``arg``, ``ALLSANG_SHARED_DIR``, or ``../shared`` beside the repo."""
    return Path(arg or os.environ.get("ALLSANG_SHARED_DIR") or ROOT.parent / "shared")


def load_norec(shared: Path, split: str, kind: str = "3class") -> Rows:
    """NoReC_sentence (nb): ``kind`` is ``3class`` or ``binary``; split train/dev/test."""
    rows = json.loads((shared / f"data/norec_sentence/{kind}/{split}.json").read_text("utf-8"))
    return [(r["text"], NOREC_LABELS[r["label"]]) for r in rows]


def load_absa(shared: Path, split: str) -> Rows:
    """ABSAbank-Imm (sv): stance 1–5 mapped to neg ≤ 2.0 < neu < 4.0 ≤ pos."""
    path = shared / f"data/absabank-imm/absabank-imm_{split}.tsv"
    with path.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    out = []
    for r in rows:
        value = float(r["label"])
        out.append((r["text"], "neg" if value <= 2.0 else "pos" if value >= 4.0 else "neu"))
    return out


def load_lcc(shared: Path) -> Rows:
    """The 499 annotated Danish LCC sentences: valence −5…5 → neg < 0 = neu < pos."""
    rows = []
    for name in LCC_FILES:
        with (shared / "data/lcc-sentiment-da" / name).open(encoding="utf-8") as fh:
            for r in csv.DictReader(fh, skipinitialspace=True):
                if r["valence"].strip():
                    v = float(r["valence"])
                    rows.append((r["text"], "pos" if v > 0 else "neg" if v < 0 else "neu"))
    return rows


def read_lexicon(path: Path) -> dict[str, float]:
    """Single-token entries of a word<TAB>valence file (later columns ignored)."""
    out: dict[str, float] = {}
    for line in path.read_text("utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) >= 2 and " " not in parts[0]:
            out.setdefault(parts[0].lower(), float(parts[1]))
    return out
