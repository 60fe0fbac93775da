"""tiktoken's `o200k_base` without downloading: the rank data comes from the npm package `tiktoken`.

Python `tiktoken` fetches its rank files from a blob store at first use; this workplace only
reaches the package registries. The npm package `tiktoken` ships the same ranks in
`encoders/o200k_base.json` (`bpe_ranks` is "! <first rank> <base64 token> <base64 token> …").
We rebuild the `.tiktoken` text from it, check it against the SHA-256 that Python tiktoken
pins for `o200k_base.tiktoken`, and build a `tiktoken.Encoding` from it — the exact encoder.

`load_encoding(cache)` installs the npm package into `cache` (`npm install tiktoken`) when
it is not there yet.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

# sha256 of o200k_base.tiktoken, as pinned by tiktoken_ext/openai_public.py.
O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
# pat_str of o200k_base, from tiktoken_ext/openai_public.py (also carried in the npm JSON).
O200K_PAT_STR = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
O200K_SPECIAL = {"<|endoftext|>": 199999, "<|endofprompt|>": 200018}


def npm_install(cache: Path, *packages: str) -> None:
    """`npm install` the packages into `cache` (a plain folder with its own package.json)."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm not found: Node.js 18+ with npm is needed for the tokenizer data and the peers")
    cache.mkdir(parents=True, exist_ok=True)
    if not (cache / "package.json").exists():
        (cache / "package.json").write_text('{"name": "dversum-bench-cache", "private": true}\n')
    subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", *packages],
        cwd=cache,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def _ranks_from_npm(path: Path) -> dict[bytes, int]:
    data = json.loads(path.read_text())
    ranks: dict[bytes, int] = {}
    for line in data["bpe_ranks"].split("\n"):
        parts = line.split(" ")
        if not parts or parts == [""]:
            continue
        if parts[0] != "!":
            raise ValueError(f"unexpected bpe_ranks line in {path}: {line[:40]!r}")
        first = int(parts[1])
        for i, token in enumerate(parts[2:]):
            ranks[base64.b64decode(token)] = first + i
    return ranks


def _check_hash(ranks: dict[bytes, int]) -> None:
    text = "".join(
        f"{base64.b64encode(tok).decode()} {rank}\n" for tok, rank in sorted(ranks.items(), key=lambda p: p[1])
    )
    digest = hashlib.sha256(text.encode()).hexdigest()
    if digest != O200K_SHA256:
        raise ValueError(f"o200k_base ranks from npm do not match tiktoken's pinned hash ({digest})")


def load_encoding(cache: Path) -> Any:
    """A `tiktoken.Encoding` for o200k_base, ranks from the npm package in `cache`."""
    import tiktoken

    path = cache / "node_modules" / "tiktoken" / "encoders" / "o200k_base.json"
    if not path.exists():
        npm_install(cache, "tiktoken@1")
    ranks = _ranks_from_npm(path)
    _check_hash(ranks)
    return tiktoken.Encoding(
        name="o200k_base", pat_str=O200K_PAT_STR, mergeable_ranks=ranks, special_tokens=O200K_SPECIAL
    )
