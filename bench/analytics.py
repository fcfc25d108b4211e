"""Run the analytics benchmark: ``python bench/analytics.py [--quick] [--messages N]
[--database-url URL] [--json]``.

The code lives in :mod:`allsang.analytics.bench` so ``allsang bench analytics`` runs the same.
"""

from __future__ import annotations

import argparse
import json

from allsang.analytics.bench import run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="50,000 messages, under a minute")
    parser.add_argument("--messages", type=int, default=None, help="messages to seed")
    parser.add_argument("--database-url", default=None, help="PostgreSQL server to measure on")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = run(quick=args.quick, messages=args.messages, database_url=args.database_url)
    if args.json:
        print(json.dumps(result))
        return
    for section in ("metrics", "baseline"):
        for key, value in result[section].items():
            print(f"{section:<8} {key:<40} {value}")
    for note in result["notes"]:
        print(f"note     {note}")


if __name__ == "__main__":
    main()
