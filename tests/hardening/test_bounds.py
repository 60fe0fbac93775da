"""Bounded everything: no input, however deep, long or odd, takes the stdio server down, and no
answer from the API, however large or endless, grows it without limit.

Each limit is followed by a valid request that must be answered: nesting (1,000 and 100,000
brackets, valid JSON-RPC with arguments 5,000 deep), a line over the reader's limit, `"id": null`;
upstream bodies over the size cap (declared, chunked, endless, binary), Retry-After values that
would disable the limiter for ever; stdin/stdout as pipe, regular file, /dev/null and tty.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.hardening.rawstdio import RawStdio

COUNTS: dict[str, list[int]] = {}
"""class -> [attacks, held]"""


def _count(kind: str, held: bool = True) -> None:
    entry = COUNTS.setdefault(kind, [0, 0])
    entry[0] += 1
    entry[1] += int(held)


def _deep_call(depth: int) -> bytes:
    return (
        b'{"jsonrpc":"2.0","id":"deep","method":"tools/call","params":{"name":"create_client","arguments":{"name":'
        + b"[" * depth
        + b"]" * depth
        + b"}}}"
    )


# (label, line, id the answer must carry)
NESTING: list[tuple[str, bytes, Any]] = [
    ("1000 brackets", b"[" * 1000, None),
    ("1000 closed brackets", b"[" * 1000 + b"]" * 1000, None),
    ("100000 brackets", b"[" * 100_000, None),
    ("100000 objects", b'{"a":' * 100_000, None),
    ("deep params, request", b'{"jsonrpc":"2.0","id":"dp","method":"ping","params":{"x":' + b"[" * 3000 + b"]" * 3000 + b"}}", "dp"),  # noqa: E501
    ("valid call, arguments 5000 deep", _deep_call(5000), "deep"),
    ("valid call, arguments 900 deep", _deep_call(900), "deep"),
    ("id null", b'{"jsonrpc":"2.0","id":null,"method":"ping"}', None),
    ("id null, tools/call", b'{"jsonrpc":"2.0","id":null,"method":"tools/call","params":{"name":"list_clients"}}', None),  # noqa: E501
]  # fmt: skip


@pytest.fixture(scope="module")
def stdio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RawStdio]:
    proc = RawStdio(
        tmp_path_factory.mktemp("bounds"),
        DVERSUM_API_TOKEN="dvk_test_bounds_0123456789",
        DVERSUM_BASE_URL="http://127.0.0.1:9/api/v1",
        DVERSUM_MAX_MESSAGE_BYTES=str(1024 * 1024),
    )
    proc.initialize()
    yield proc
    assert proc.close() == 0, proc.stderr_tail()
    assert "Traceback" not in proc.stderr_tail(), proc.stderr_tail()


@pytest.mark.parametrize(("label", "line", "ident"), NESTING, ids=[n[0] for n in NESTING])
def test_stdio_nesting_and_null_ids_are_answered(stdio: RawStdio, label: str, line: bytes, ident: Any) -> None:
    stdio.send(line)
    answer = stdio.receive(timeout=20)
    held = answer is not None and answer.get("id") == ident and ("error" in answer or answer["result"].get("isError"))
    _count("stdio nesting / id null", held)
    assert answer is not None, f"{label}: no answer; stderr: {stdio.stderr_tail()}"
    assert answer.get("id") == ident, (label, answer)
    if ident is None:
        assert answer["error"]["code"] in (-32700, -32600), (label, answer)
    else:
        assert "error" in answer or answer["result"]["isError"], (label, str(answer)[:300])
    stdio.ping(f"after {label}")


@pytest.mark.parametrize("size", [1024 * 1024 + 1, 3 * 1024 * 1024], ids=["just over", "three times"])
def test_stdio_line_over_the_reader_limit_is_answered(stdio: RawStdio, size: int) -> None:
    line = b'{"jsonrpc":"2.0","id":"long","method":"ping","params":{"x":"' + b"y" * size + b'"}}'
    stdio.send(line)
    answer = stdio.receive(timeout=30)
    _count("stdio line limit", answer is not None and "error" in answer)
    assert answer is not None and answer["error"]["code"] in (-32600, -32700), answer
    assert "DVERSUM_MAX_MESSAGE_BYTES" in answer["error"]["message"] or "limit" in answer["error"]["message"]
    stdio.ping("after a long line")
    stdio.send(b'{"jsonrpc":"2.0","id":"short","method":"ping","params":{"x":"' + b"y" * 1000 + b'"}}')
    assert stdio.response("short")["result"] == {}
