"""Run the inbox benchmark: ``python bench/inbox.py [--quick] [--messages N] [--json]
[--database-url URL]``.

The code lives in :mod:`allsang.inbox.bench` so ``allsang bench inbox`` runs the same.
"""

from __future__ import annotations

import argparse
import json

from allsang.inbox.bench import run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--database-url", help="a PostgreSQL server to measure on as well")
    parser.add_argument("--messages", type=int, help="messages to seed (default 1,000,000)")
    args = parser.parse_args()
    result = run(quick=args.quick, database_url=args.database_url, messages=args.messages)
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
