"""Scores of `search_tools` on tests/fixtures/search_eval.jsonl, per split and kind (`-v`: the misses).

    .venv/bin/python bench/search_eval.py [-v] [tune|heldout]

Tune with the "tune" rows only; the "heldout" rows were set aside before tuning and measure it, so `-v` lists
the tuning misses only unless "heldout" is named.
"""

from __future__ import annotations

import json
import sys
import time
from collections import defaultdict
from pathlib import Path

from dversum_mcp.server.search import SearchIndex
from dversum_mcp.tools.registry import Registry

ROWS = Path(__file__).parents[1] / "tests" / "fixtures" / "search_eval.jsonl"


def main(argv: list[str]) -> int:
    verbose = "-v" in argv
    only = [a for a in argv if not a.startswith("-")]
    index = SearchIndex(Registry().tools.values())
    rows = [json.loads(line) for line in ROWS.read_text(encoding="utf-8").splitlines() if line.strip()]
    started = time.perf_counter()
    ranks: dict[str, list[tuple[int, dict[str, str], list[str]]]] = defaultdict(list)
    for row in rows:
        hits = [tool.spec.name for tool, _ in index.search(row["query"], limit=10)]
        rank = hits.index(row["tool"]) + 1 if row["tool"] in hits else 99
        ranks[row["split"]].append((rank, row, hits))
    per_query = (time.perf_counter() - started) / len(rows) * 1000
    for split, results in ranks.items():
        n = len(results)
        first = sum(r == 1 for r, _, _ in results)
        top3 = sum(r <= 3 for r, _, _ in results)
        print(f"{split}: {n} requests, first {first} ({first / n:.1%}), top 3 {top3} ({top3 / n:.1%})")
        kinds: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for rank, row, _ in results:
            kinds[f"{row['kind']}/{row['lang']}"][0] += rank == 1
            kinds[f"{row['kind']}/{row['lang']}"][1] += 1
        print("  " + ", ".join(f"{k} {a}/{b}" for k, (a, b) in sorted(kinds.items())))
        if verbose and split in (only or ["tune"]):  # held-out misses only when asked for by name
            for rank, row, hits in results:
                if rank != 1:
                    print(f"  {rank:>2} {row['query']!r} → {row['tool']}; got {hits[:3]}")
    print(f"{per_query:.1f} ms per request (the first one builds the index)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
