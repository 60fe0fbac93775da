#!/usr/bin/env python3
"""Benchmark ``markdown_to_doc`` against markdown-it-py rendering the same text to HTML.

The corpus is built from the realistic pages in ``tests/fixtures/pages`` (concatenated to
1 KB … 1 MB). For every size both converters run on the same text; the table shows the time
per document, the ratio to the floor (markdown-it-py ``commonmark`` + ``table`` +
``strikethrough`` rendering to HTML) and the time per KB, which stays flat when growth is
linear. Results go to ``bench/results/markdown.json``.

    PYTHONPATH=src python bench/bench_markdown.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from dversum_prosemirror import markdown_to_doc  # noqa: E402

PAGES = ROOT / "tests" / "fixtures" / "pages"
RESULTS = ROOT / "bench" / "results" / "markdown.json"
SIZES_KB = (1, 4, 16, 64, 256, 1024)


def build_corpus(size_kb: int, pages: list[str]) -> str:
    """Concatenate pages (cycling) until the text reaches ``size_kb`` KiB, cut at a page end."""
    target = size_kb * 1024
    parts: list[str] = []
    length = 0
    index = 0
    while length < target:
        page = pages[index % len(pages)]
        if length + len(page.encode()) > target and parts and size_kb <= 4:
            # small documents: cut the page at a paragraph boundary near the target
            room = target - length
            cut = page.encode()[:room].decode(errors="ignore").rfind("\n\n")
            if cut > 0:
                parts.append(page[:cut] + "\n")
            break
        parts.append(page)
        length += len(page.encode()) + 1
        index += 1
    return "\n".join(parts)


def paired(ours: Callable[[str], Any], floor: Callable[[str], Any], text: str, budget: float) -> tuple[float, float]:
    """Best seconds per call for both converters, measured alternately so that load changes on
    a shared machine hit both alike (at least 3 pairs, up to ``budget`` seconds)."""
    ours(text)  # warm-up (parser construction, caches)
    floor(text)
    best_ours = best_floor = float("inf")
    spent = 0.0
    pairs = 0
    while pairs < 3 or (spent < budget and pairs < 300):
        started = time.perf_counter()
        ours(text)
        middle = time.perf_counter()
        floor(text)
        ended = time.perf_counter()
        best_ours = min(best_ours, middle - started)
        best_floor = min(best_floor, ended - middle)
        spent += ended - started
        pairs += 1
    return best_ours, best_floor


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter time budget per size")
    args = parser.parse_args()
    budget = 0.3 if args.quick else 2.0

    pages = [path.read_text(encoding="utf-8") for path in sorted(PAGES.glob("*.md"))]
    floor_md = MarkdownIt("commonmark").enable("table").enable("strikethrough")

    rows = []
    print(
        f"{'size':>8} {'bytes':>9} {'ours ms':>10} {'floor ms':>10} {'ratio':>6} {'ours µs/KB':>11} {'floor µs/KB':>12}"
    )
    for size_kb in SIZES_KB:
        text = build_corpus(size_kb, pages)
        nbytes = len(text.encode())
        ours, floor = paired(markdown_to_doc, floor_md.render, text, budget)
        kb = nbytes / 1024
        row = {
            "size_kb": size_kb,
            "bytes": nbytes,
            "ours_ms": round(ours * 1000, 3),
            "floor_ms": round(floor * 1000, 3),
            "ratio": round(ours / floor, 3),
            "ours_us_per_kb": round(ours * 1e6 / kb, 1),
            "floor_us_per_kb": round(floor * 1e6 / kb, 1),
        }
        rows.append(row)
        print(
            f"{size_kb:>6}KB {nbytes:>9} {row['ours_ms']:>10.2f} {row['floor_ms']:>10.2f} {row['ratio']:>6.2f}"
            f" {row['ours_us_per_kb']:>11.1f} {row['floor_us_per_kb']:>12.1f}"
        )

    # throughput over the realistic pages themselves (documents of a few KB each), alternating
    ours_pages = floor_pages = float("inf")
    rounds = 0
    started = time.perf_counter()
    while rounds < 3 or time.perf_counter() - started < budget * 3:
        begin = time.perf_counter()
        for page in pages:
            markdown_to_doc(page)
        middle = time.perf_counter()
        for page in pages:
            floor_md.render(page)
        ours_pages = min(ours_pages, middle - begin)
        floor_pages = min(floor_pages, time.perf_counter() - middle)
        rounds += 1
    total_bytes = sum(len(page.encode()) for page in pages)
    docs = len(pages)
    summary = {
        "pages": len(pages),
        "docs_per_s": round(docs / ours_pages, 1),
        "mb_per_s": round(total_bytes / ours_pages / 1e6, 3),
        "floor_docs_per_s": round(docs / floor_pages, 1),
        "floor_mb_per_s": round(total_bytes / floor_pages / 1e6, 3),
        "ratio": round(ours_pages / floor_pages, 3),
        "size_ratio_range": [min(r["ratio"] for r in rows), max(r["ratio"] for r in rows)],
        "us_per_kb_range": [min(r["ours_us_per_kb"] for r in rows), max(r["ours_us_per_kb"] for r in rows)],
    }
    print(
        f"\npages: {summary['docs_per_s']} docs/s, {summary['mb_per_s']} MB/s "
        f"(floor {summary['floor_docs_per_s']} docs/s, {summary['floor_mb_per_s']} MB/s) → ratio {summary['ratio']}"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "floor": 'MarkdownIt("commonmark").enable("table").enable("strikethrough").render',
        "method": "best of alternating runs (ours, floor) per size; pages: best of alternating full passes",
        "sizes": rows,
        "summary": summary,
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"results written to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
