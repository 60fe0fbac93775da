#!/usr/bin/env python3
"""Regenerate the Tiptap oracle fixtures used by ``tests/dversum_mcp/prosemirror``.

Runs the Node oracle (official ``@tiptap/markdown``, ``--no-dom`` mode, i.e. what the
same code does on a server) over the CommonMark/GFM corpus and over the realistic pages in
``tests/fixtures/pages``, and writes:

* ``tests/fixtures/tiptap/corpus_expected.json`` - case id → markdown, section and the oracle
  result (a document, or an error record ``{"error": ..., "doc": ...}``);
* ``tests/fixtures/tiptap/pages_expected.json`` - page file name → oracle document, what
  Tiptap's own serializer (``tiptap2md.mjs``) writes for it, and the oracle's parse of that.

The tests only read these files; they never need Node. Usage::

    bash /work/shared/tools/tiptap-oracle/setup.sh /tmp/tiptap-oracle   # once
    python tools/gen_tiptap_fixtures.py [--oracle DIR] [--deps DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "fixtures" / "tiptap"
PAGES = ROOT / "tests" / "fixtures" / "pages"
DEFAULT_ORACLE = Path("/work/shared/tools/tiptap-oracle")


def _node(script: Path, payload: Any, deps: str, *args: str) -> Any:
    cmd = ["node", str(script), "--deps", deps, *args]
    proc = subprocess.run(cmd, input=json.dumps(payload), capture_output=True, text=True, check=True)  # noqa: S603, RUF100
    return json.loads(proc.stdout)


def _clean(result: Any) -> Any:
    """Drop the captured console log from error records (noise, not part of the result)."""
    if isinstance(result, dict) and "error" in result:
        return {key: value for key, value in result.items() if key != "log"}
    return result


def _write(path: Path, meta: dict[str, Any], key: str, entries: dict[str, Any]) -> None:
    """One entry per line: diff-friendly, stable key order, compact."""
    lines = ["{", f'"meta": {json.dumps(meta, sort_keys=True, ensure_ascii=False)},', f'"{key}": {{']
    items = list(entries.items())
    for index, (name, value) in enumerate(items):
        comma = "," if index < len(items) - 1 else ""
        body = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        lines.append(f"{json.dumps(name)}: {body}{comma}")
    lines.append("}}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--oracle", type=Path, default=DEFAULT_ORACLE, help="oracle directory (md2tiptap.mjs)")
    default_deps = os.environ.get("TIPTAP_ORACLE_DEPS", str(Path(tempfile.gettempdir()) / "tiptap-oracle"))
    parser.add_argument("--deps", default=default_deps, help="dependency directory made by setup.sh")
    args = parser.parse_args()
    md2tiptap = args.oracle / "md2tiptap.mjs"
    tiptap2md = args.oracle / "tiptap2md.mjs"
    version = json.loads((Path(args.deps) / "node_modules" / "@tiptap" / "markdown" / "package.json").read_text())
    meta = {"oracle": "@tiptap/markdown", "version": version["version"], "mode": "--no-dom"}

    corpus = json.loads((args.oracle / "corpus.json").read_text(encoding="utf-8"))
    results = _node(md2tiptap, [case["markdown"] for case in corpus], args.deps, "--no-dom")
    cases = {
        case["id"]: {"markdown": case["markdown"], "section": case["section"], "result": _clean(result)}
        for case, result in zip(corpus, results, strict=True)
    }
    OUT.mkdir(parents=True, exist_ok=True)
    _write(OUT / "corpus_expected.json", meta, "cases", cases)

    files = sorted(PAGES.glob("*.md"))
    texts = [path.read_text(encoding="utf-8") for path in files]
    docs = _node(md2tiptap, texts, args.deps, "--no-dom")
    serialized = _node(tiptap2md, [doc.get("doc", doc) for doc in docs], args.deps)
    reparsed = _node(md2tiptap, serialized, args.deps, "--no-dom")
    pages = {
        path.name: {"result": _clean(doc), "tiptap_markdown": md, "tiptap_markdown_result": _clean(again)}
        for path, doc, md, again in zip(files, docs, serialized, reparsed, strict=True)
    }
    _write(OUT / "pages_expected.json", meta, "pages", pages)
    errors = sum(1 for case in cases.values() if "error" in case["result"])
    print(f"corpus: {len(cases)} cases ({errors} oracle errors); pages: {len(pages)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
