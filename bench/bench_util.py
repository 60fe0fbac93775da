"""Shared helpers for the benchmarks: a minimal stdio JSON-RPC peer, statistics, machine facts.

The stdio peer is deliberately tiny (write one line, read one line, no pydantic): what it
measures is the server and the pipe, not an SDK client's own parsing. Loopback HTTP servers
run in a child process so that client load and server load do not share one GIL.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "BENCH_DIR",
    "PROTOCOL_VERSION",
    "PYCACHE",
    "PYTHON",
    "ROOT",
    "StdioPeer",
    "base_env",
    "free_port",
    "machine",
    "pct",
    "rss_kib",
    "summary",
]

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
PYTHON = sys.executable
PROTOCOL_VERSION = "2025-06-18"


PYCACHE = Path(tempfile.gettempdir()) / "dversum-bench-pycache"


def base_env(**extra: str) -> dict[str, str]:
    """The environment for a child server: no DVERSUM_* from the caller, bytecode cached.

    An installed wheel has its bytecode compiled at install time; a checkout with
    PYTHONDONTWRITEBYTECODE=1 would compile every module on every start instead. Children
    write their bytecode under PYCACHE (not into the source tree), so every variant starts
    the way it would for a user from the second start on.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("DVERSUM_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def pct(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100), linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary(values: Sequence[float], digits: int = 3) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": round(pct(values, 50), digits),
        "p90": round(pct(values, 90), digits),
        "p99": round(pct(values, 99), digits),
        "mean": round(statistics.fmean(values), digits) if values else float("nan"),
        "min": round(min(values), digits) if values else float("nan"),
        "max": round(max(values), digits) if values else float("nan"),
    }


def machine() -> dict[str, Any]:
    from importlib.metadata import version

    def _v(name: str) -> str:
        try:
            return version(name)
        except Exception:
            return "?"

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "platform": platform.platform(),
        "mcp_sdk": _v("mcp"),
        "dversum_mcp": _v("dversum-mcp"),
        "load_avg": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_kib(pid: int) -> dict[str, int]:
    """Current (VmRSS) and peak (VmHWM) resident set size of a process, in KiB (Linux)."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(rest.split()[0])
    return out


class StdioPeer:
    """A bare JSON-RPC client over a child's stdin/stdout (newline-delimited JSON)."""

    def __init__(self, cmd: Sequence[str], env: Mapping[str, str], cwd: str | Path | None = None) -> None:
        self.started = time.perf_counter()
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the child; closed in close()
        self.proc = subprocess.Popen(
            list(cmd),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=dict(env),
            cwd=cwd or tempfile.gettempdir(),
        )
        self._next = 0
        self.cpu_s: float | None = None
        """User + system CPU seconds of the child, known after close() (from wait4's rusage)."""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, message: Mapping[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")
        self.proc.stdin.flush()

    def request(self, method: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Send a request and block until its response (notifications in between are skipped)."""
        self._next += 1
        ident = self._next
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": ident, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"server closed stdout; stderr:\n{self.stderr()[-2000:]}")
            reply = json.loads(line)
            if reply.get("id") == ident:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return dict(reply["result"])

    def initialize(self) -> dict[str, Any]:
        result = self.request(
            "initialize",
            {"protocolVersion": PROTOCOL_VERSION, "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}},
        )
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return result

    def call(self, name: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
        return self.request("tools/call", {"name": name, "arguments": dict(arguments)})

    def stderr(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def close(self, timeout: float = 10.0) -> int:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        code = self._reap(timeout)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._stderr.close()
        return code

    def _reap(self, timeout: float) -> int:
        """Wait for the child with wait4, keeping its CPU time; terminate it after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                self.cpu_s = usage.ru_utime + usage.ru_stime
                self.proc.returncode = os.waitstatus_to_exitcode(status)
                return self.proc.returncode
            if time.monotonic() > deadline:
                self.proc.terminate()
                deadline = time.monotonic() + 5
            time.sleep(0.002)

    def __enter__(self) -> StdioPeer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
