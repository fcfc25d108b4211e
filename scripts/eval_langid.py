"""Measure language identification accuracy on the shared data sets and the project's sample.

    python scripts/eval_langid.py [--shared DIR]

Sets: NoReC_sentence test (nb; it holds some Nynorsk, so strict nb accuracy is a lower bound),
Danish LCC (da), ABSAbank-Imm test (sv) and ``tests/listening/data/lid_sample.tsv``
(hand-written fi, en, nn, nb, da, sv and other). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from collections import Counter
from pathlib import Path

from allsang.listening.langid import detect

ROOT = Path(__file__).resolve().parent.parent


def shared_dir(arg: str | None) -> Path:
    """The shared data folder: --shared, ALLSANG_SHARED_DIR, or ../shared beside the repo."""
    return Path(arg or os.environ.get("ALLSANG_SHARED_DIR") or ROOT.parent / "shared")


def load_sets(shared: Path) -> dict[str, list[tuple[str, str]]]:
    data = shared / "data"
    norec = json.loads((data / "norec_sentence/3class/test.json").read_text("utf-8"))
    sets = {"NoReC test (nb)": [("nb", row["text"]) for row in norec]}
    lcc: list[tuple[str, str]] = []
    for name in ("dan_mixed_2014_10K-sentences.csv", "dan_newscrawl_2011_10K-sentences.csv"):
        with (data / "lcc-sentiment-da" / name).open(encoding="utf-8") as fh:
            lcc += [("da", r["text"]) for r in csv.DictReader(fh, skipinitialspace=True)]
    sets["LCC 20k sentences (da)"] = lcc
    with (data / "absabank-imm/absabank-imm_test.tsv").open(encoding="utf-8") as fh:
        rows = csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        sets["ABSAbank-Imm test (sv)"] = [("sv", r["text"]) for r in rows]
    sample = ROOT / "tests/listening/data/lid_sample.tsv"
    lines = [ln.split("\t", 1) for ln in sample.read_text("utf-8").splitlines() if "\t" in ln]
    sets["project sample (7 labels)"] = [(g, t) for g, t in lines if not g.startswith("#")]
    return sets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", help="the shared folder (default: ALLSANG_SHARED_DIR)")
    args = parser.parse_args()
    print("| set | texts | accuracy | main confusions | texts/s |")
    print("|---|---|---|---|---|")
    detect("warm up: load the model before timing")
    for name, rows in load_sets(shared_dir(args.shared)).items():
        start = time.perf_counter()
        guesses = [detect(text).lang for _, text in rows]
        rate = len(rows) / (time.perf_counter() - start)
        right = sum(g == gold for g, (gold, _) in zip(guesses, rows, strict=True))
        wrong = Counter(
            f"{gold}→{g}" for g, (gold, _) in zip(guesses, rows, strict=True) if g != gold
        )
        confusions = ", ".join(f"{k} {v}" for k, v in wrong.most_common(4))
        print(f"| {name} | {len(rows)} | {right / len(rows):.3f} | {confusions} | {rate:,.0f} |")


if __name__ == "__main__":
    main()
