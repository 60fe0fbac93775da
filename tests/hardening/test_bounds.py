"""Bounded everything: no input, however deep, long or odd, takes the stdio server down, and no
answer from the API, however large or endless, grows it without limit.

Each limit is followed by a valid request that must be answered: nesting (1,000 and 100,000
brackets, valid JSON-RPC with arguments 5,000 deep), a line over the reader's limit, `"id": null`;
upstream bodies over the size cap (declared, chunked, endless, binary), Retry-After values that
would disable the limiter for ever; stdin/stdout as pipe, regular file, /dev/null and tty.
"""

from __future__ import annotations

import itertools
import json
import os
import pty
import select
import subprocess
import termios
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.hardening.conftest import PYTHON, SUMMARY, clean_env
from tests.hardening.rawstdio import INIT, RawStdio

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


# ---- stdin and stdout of every kind ----------------------------------------------------------
KINDS = ("pipe", "file", "devnull", "tty")
REQUESTS: list[dict[str, Any] | bytes] = [
    INIT,
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
    b"not json",
    {"jsonrpc": "2.0", "id": "p", "method": "ping"},
    {"jsonrpc": "2.0", "id": "l", "method": "tools/list"},
]
REQUEST_BYTES = b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in REQUESTS)


def _pty(echo: bool = False) -> tuple[int, int]:
    master, slave = pty.openpty()
    attrs = termios.tcgetattr(slave)
    if not echo:
        attrs[3] &= ~termios.ECHO  # canonical input, no echo: what a terminal without a human shows
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    return master, slave


def _drain(fd: int, sink: list[bytes]) -> None:
    while True:
        try:
            ready, _, _ = select.select([fd], [], [], 30)
            chunk = os.read(fd, 65536) if ready else b""
        except OSError:  # EIO: the child closed its side
            return
        if not chunk:
            return
        sink.append(chunk)


def _combo(tmp: Path, stdin_kind: str, stdout_kind: str) -> tuple[int, bytes | None, str]:
    """Run `dversum-mcp` with stdin/stdout of the given kinds; (exit code, stdout bytes or None, stderr)."""
    tmp.mkdir()
    opened: list[Any] = []
    close_after_spawn: list[int] = []
    stdin: Any
    if stdin_kind == "pipe":
        stdin = subprocess.PIPE
    elif stdin_kind == "file":
        (tmp / "in.jsonl").write_bytes(REQUEST_BYTES)
        stdin = (tmp / "in.jsonl").open("rb")
        opened.append(stdin)
    elif stdin_kind == "devnull":
        stdin = subprocess.DEVNULL
    else:
        in_master, stdin = _pty()
        close_after_spawn.append(stdin)
    stdout: Any
    out_master = None
    if stdout_kind == "pipe":
        stdout = subprocess.PIPE
    elif stdout_kind == "file":
        stdout = (tmp / "out.jsonl").open("wb")
        opened.append(stdout)
    elif stdout_kind == "devnull":
        stdout = subprocess.DEVNULL
    else:
        out_master, stdout = _pty()
        close_after_spawn.append(stdout)
    stderr = (tmp / "err.log").open("wb")
    opened.append(stderr)
    env = clean_env(DVERSUM_API_TOKEN="dvk_test_combo_0123456789", DVERSUM_BASE_URL="http://127.0.0.1:9/api/v1")
    proc = subprocess.Popen(
        [PYTHON, "-m", "dversum_mcp.cli"], stdin=stdin, stdout=stdout, stderr=stderr, env=env, cwd=tmp
    )
    for fd in close_after_spawn:
        os.close(fd)
    sink: list[bytes] = []
    reader = None
    if stdout_kind == "pipe":
        assert proc.stdout is not None
        reader = threading.Thread(target=lambda: sink.append(proc.stdout.read()), daemon=True)  # type: ignore[union-attr]
    elif out_master is not None:
        reader = threading.Thread(target=_drain, args=(out_master, sink), daemon=True)
    if reader is not None:
        reader.start()
    try:
        if stdin_kind == "pipe":
            assert proc.stdin is not None
            proc.stdin.write(REQUEST_BYTES)
            proc.stdin.close()
        elif stdin_kind == "tty":
            for line in REQUEST_BYTES.splitlines(keepends=True):
                os.write(in_master, line)
            time.sleep(0.2)
            os.write(in_master, b"\x04")  # end of input on a terminal: ^D at the start of a line
        code = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = -999
        proc.wait(timeout=10)
    finally:
        if reader is not None:
            reader.join(timeout=10)
        for handle in opened:
            handle.close()
        if stdin_kind == "tty":
            os.close(in_master)
        if out_master is not None:
            os.close(out_master)
    out: bytes | None = b"".join(sink) if stdout_kind in ("pipe", "tty") else None
    if stdout_kind == "file":
        out = (tmp / "out.jsonl").read_bytes()
    return code, out, (tmp / "err.log").read_text(errors="replace")


def test_stdio_every_kind_of_stdin_and_stdout(tmp_path: Path) -> None:
    combos = list(itertools.product(KINDS, KINDS))
    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(lambda c: (c, _combo(tmp_path / f"{c[0]}-{c[1]}", *c)), combos))
    failures = []
    for (stdin_kind, stdout_kind), (code, out, err) in runs:
        problems = []
        if code != 0:
            problems.append(f"exit {code}")
        if "Traceback" in err or "PermissionError" in err or "closed file" in err:
            problems.append("traceback: " + err[-600:])
        if out is not None and stdin_kind != "devnull":
            try:
                answers = [json.loads(line) for line in out.replace(b"\r\n", b"\n").splitlines() if line.strip()]
            except ValueError as exc:
                answers = [{"id": f"broken line: {exc}"}]
            ids = [a.get("id") for a in answers]
            if sorted(map(str, ids)) != sorted(map(str, ["init", None, "p", "l"])):
                problems.append(f"answers {ids}")
        if out is not None and stdin_kind == "devnull" and out.strip():
            problems.append(f"wrote {out[:100]!r} without input")
        _count("stdin/stdout kinds", not problems)
        if problems:
            failures.append(f"stdin {stdin_kind}, stdout {stdout_kind}: {'; '.join(problems)}")
    assert failures == [], "\n".join(failures)


def test_zz_report() -> None:
    SUMMARY["bounds"] = ", ".join(f"{kind}: {held}/{n} held" for kind, (n, held) in sorted(COUNTS.items()))
