"""Convert npm js-tiktoken's `dist/ranks/o200k_base.js` into tiktoken's `o200k_base.tiktoken` (offline).

Python tiktoken downloads its rank files from a blob store that CI cannot reach; js-tiktoken
ships the same ranks. The output is byte-identical to the official file: its SHA-256 is the
one tiktoken pins (checked here and again by tiktoken when it loads the cached file).

    python3 tools/o200k_from_js_tiktoken.py package/dist/ranks/o200k_base.js OUT.tiktoken
"""

from __future__ import annotations

import hashlib
import json
import sys

O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"


def convert(source: str) -> bytes:
    text = source[source.index("{") : source.rindex("}") + 1]
    data = json.loads(text)
    ranks: dict[str, int] = {}
    for line in data["bpe_ranks"].split("\n"):
        if not line:
            continue
        _label, offset, *tokens = line.split(" ")
        for i, token in enumerate(tokens):
            ranks[token] = int(offset) + i
    return "".join(f"{t} {r}\n" for t, r in sorted(ranks.items(), key=lambda kv: kv[1])).encode()


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as fh:
        out = convert(fh.read())
    digest = hashlib.sha256(out).hexdigest()
    if digest != O200K_SHA256:
        print(f"sha256 mismatch: {digest} (expected {O200K_SHA256})", file=sys.stderr)
        return 1
    with open(argv[2], "wb") as fh:
        fh.write(out)
    print(f"{argv[2]}: sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
