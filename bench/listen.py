"""Run the listening benchmark: ``python bench/listen.py [--quick] [--json]``.

The code lives in :mod:`allsang.listening.bench` so ``allsang bench listen`` runs the same.
"""

from __future__ import annotations

import argparse
import json

from allsang.listening.bench import run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, under a minute")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = run(quick=args.quick)
    if args.json:
        print(json.dumps(result))
        return
    for section in ("metrics", "baseline"):
        for key, value in result[section].items():
            print(f"{section:<8} {key:<48} {value}")
    for note in result["notes"]:
        print(f"note     {note}")


if __name__ == "__main__":
    main()
