"""`python -m dversum_mcp.cli.main` as a subprocess spoken to in raw bytes (no SDK client in between).

Every stdout line is kept (the purity test checks each is JSON-RPC); stderr goes to a file.
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from tests.hardening.conftest import PYTHON, clean_env

INIT = {
    "jsonrpc": "2.0",
    "id": "init",
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}},
}


class RawStdio:
    def __init__(self, tmp: Path, **env: str) -> None:
        self.stderr_path = tmp / "stderr.log"
        self.lines: list[bytes] = []
        self._queue: queue.Queue[bytes] = queue.Queue()
        self._stderr = self.stderr_path.open("wb")
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "dversum_mcp.cli"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=clean_env(DVERSUM_SANDBOX_DIR=str(tmp / "sandbox"), **env),
            cwd=tmp,
        )
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            self._queue.put(line)

    def send(self, raw: bytes | dict[str, Any]) -> None:
        data = json.dumps(raw).encode() if isinstance(raw, dict) else raw
        assert self.proc.stdin is not None
        self.proc.stdin.write(data + b"\n")
        self.proc.stdin.flush()

    def receive(self, timeout: float = 15.0) -> dict[str, Any] | None:
        try:
            line = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        return dict(json.loads(line))

    def response(self, ident: Any, timeout: float = 20.0) -> dict[str, Any]:
        """The response with this id (notifications in between are skipped)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self.receive(max(0.05, deadline - time.monotonic()))
            if message is not None and "method" not in message and message.get("id") == ident:
                return message
        raise AssertionError(f"no response with id {ident!r} within {timeout} s; stderr: {self.stderr_tail()}")

    def quiet(self, seconds: float) -> list[dict[str, Any]]:
        """Whatever arrives within `seconds`."""
        out = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            message = self.receive(left)
            if message is not None:
                out.append(message)
        return out

    def initialize(self) -> dict[str, Any]:
        self.send(INIT)
        result = self.response("init", timeout=60)
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return result

    def ping(self, ident: Any) -> None:
        self.send({"jsonrpc": "2.0", "id": ident, "method": "ping"})
        answer = self.response(ident)
        assert answer.get("result") == {}, answer

    def stderr_tail(self) -> str:
        if not self._stderr.closed:
            self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")[-2000:]

    def close(self) -> int:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            code = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(timeout=5)
        self._stderr.close()
        return code
