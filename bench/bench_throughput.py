"""Throughput: Streamable HTTP (stateless) under 32 concurrent clients on loopback, sandbox behind it.

    python bench/bench_throughput.py [--seconds S] [--clients N]

The server is the real CLI in a child process (`dversum-mcp serve --transport http --stateless`,
no token: the in-process sandbox on a fresh seeded directory, rate limits lifted), so client
load and server load do not share one GIL. N clients in this process send `tools/call` back
to back for S seconds each for a read tool (`list_clients`, 25 per page) and a write tool
(`create_task` in one project). After the run the server is stopped and the sandbox database
is opened directly: every acknowledged `create_task` must be a row (no lost writes), and
there must be no row that was not acknowledged (no phantom writes).

A second variant (full run only) is the same CLI with `--json-response`: each request is
answered with one JSON body instead of an SSE stream (no progress notifications then).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_startup import server_cmd
from bench_util import StdioPeer, base_env, free_port, machine, summary

__all__ = ["run"]

UNLIMITED = "1000000"
HEADERS = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "MCP-Protocol-Version": "2025-06-18",
}


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("HTTP server exited during start-up")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("HTTP server did not start")


def _parse(raw: bytes) -> dict[str, Any]:
    """The JSON-RPC message of a Streamable HTTP answer (plain JSON or one SSE `data:` line)."""
    text = raw.decode()
    if text.lstrip().startswith("{"):
        return dict(json.loads(text))
    for line in text.splitlines():
        if line.startswith("data:"):
            return dict(json.loads(line[5:]))
    raise ValueError(f"no JSON-RPC message in {text[:200]!r}")


async def _load(url: str, clients: int, seconds: float, warmup: float, make_args: Any, tool: str) -> dict[str, Any]:
    import httpx2

    limits = httpx2.Limits(max_connections=clients, max_keepalive_connections=clients)
    latencies: list[float] = []
    errors: list[str] = []
    results: list[dict[str, Any]] = []
    counter = 0
    t_start = time.perf_counter()
    t_measure = t_start + warmup
    t_end = t_measure + seconds

    async with httpx2.AsyncClient(limits=limits, timeout=60) as http:

        async def client(worker: int) -> None:
            nonlocal counter
            while True:
                now = time.perf_counter()
                if now >= t_end:
                    return
                counter += 1
                body = {
                    "jsonrpc": "2.0",
                    "id": counter,
                    "method": "tools/call",
                    "params": {"name": tool, "arguments": make_args(worker, counter)},
                }
                t0 = time.perf_counter()
                try:
                    response = await http.post(url, json=body, headers=HEADERS)
                    message = _parse(response.content)
                except Exception as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                t1 = time.perf_counter()
                result = message.get("result")
                if response.status_code != 200 or not isinstance(result, dict) or result.get("isError"):
                    errors.append(json.dumps(message)[:300])
                    continue
                results.append(result)
                if t0 >= t_measure:
                    latencies.append((t1 - t0) * 1000)

        cpu0 = time.process_time()
        async with anyio.create_task_group() as group:
            for i in range(clients):
                group.start_soon(client, i)
        client_cpu = time.process_time() - cpu0
    wall = time.perf_counter() - t_start
    return {
        "latencies": latencies,
        "errors": errors,
        "results": results,
        "measured_s": seconds,
        "wall_s": wall,
        "client_cpu_s": client_cpu,
    }


def _variant(
    name: str, env: dict[str, str], tmp: Path, data_dir: Path, project: str, clients: int, seconds: float, warmup: float
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    port = free_port()
    cmd = [*server_cmd(), "serve", "--transport", "http", "--stateless", "--port", str(port)]
    if name == "stateless_json":
        cmd.append("--json-response")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp)
    try:
        _wait_port(port, proc)
        url = f"http://127.0.0.1:{port}/mcp"
        plans = (
            ("read", "list_clients", lambda w, n: {"per_page": 25}),
            (
                "write",
                "create_task",
                lambda w, n: {"project_id": project, "title": f"bench-{name}-{w}-{n}", "priority": "low"},
            ),
        )
        for kind, tool, make_args in plans:
            cpu0 = _cpu_s(proc.pid)
            load = anyio.run(_load, url, clients, seconds, warmup, make_args, tool)
            server_cpu = _cpu_s(proc.pid) - cpu0
            lat = load["latencies"]
            row: dict[str, Any] = {
                "tool": tool,
                "calls": len(lat),
                "calls_per_s": round(len(lat) / load["measured_s"], 1),
                "latency_ms": summary(lat, 2),
                "errors": len(load["errors"]),
                "error_samples": load["errors"][:3],
                "server_cpu_per_call_ms": round(server_cpu * 1000 / max(1, len(load["results"])), 3),
                "client_cpu_share": round(load["client_cpu_s"] / load["wall_s"], 2),
            }
            if kind == "write":
                row["acknowledged_ids"] = sorted(str(r["structuredContent"]["id"]) for r in load["results"])
            out[kind] = row
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if proc.stderr:
            proc.stderr.close()
    write = out["write"]
    acknowledged = set(write.pop("acknowledged_ids"))
    with sqlite3.connect(data_dir / "sandbox.sqlite3") as db:
        pattern = f"bench-{name}-%"
        rows = {r[0] for r in db.execute("SELECT id FROM tasks WHERE title LIKE ?", (pattern,))}
    write["acknowledged"] = len(acknowledged)
    write["rows_after"] = len(rows)
    write["lost_writes"] = len(acknowledged - rows)
    write["phantom_writes"] = len(rows - acknowledged)
    tail = [line for line in stderr.splitlines() if "Error" in line or "Traceback" in line]
    if tail and any(row["errors"] for row in out.values()):
        out["server_stderr_tail"] = stderr[-1500:]
    return out


def run(quick: bool = False, seconds: float | None = None, clients: int = 32) -> dict[str, Any]:
    seconds = seconds or (3.0 if quick else 10.0)
    warmup = 1.0 if quick else 2.0
    tmp = Path(tempfile.mkdtemp(prefix="dversum-bench-http-"))
    data_dir = tmp / "sandbox"
    env = base_env(
        DVERSUM_SANDBOX_DIR=str(data_dir), DVERSUM_RATE_LIMIT=UNLIMITED, DVERSUM_SANDBOX_RATE_LIMIT=UNLIMITED
    )
    out: dict[str, Any] = {"clients": clients, "seconds": seconds, "machine": machine(), "variants": {}}
    try:
        # seed the sandbox and find a project to write into (one stdio session, then gone)
        with StdioPeer(server_cmd(), env) as peer:
            peer.initialize()
            listed = peer.call("list_projects", {"per_page": 2})["structuredContent"]["projects"]
        # each variant writes into its own project, so both start from the same column sizes
        names = ("stateless_sse",) if quick else ("stateless_sse", "stateless_json")
        for name, project in zip(names, listed[: len(names)], strict=True):
            out["variants"][name] = _variant(name, env, tmp, data_dir, project["id"], clients, seconds, warmup)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(json.dumps(run(args.quick, args.seconds, args.clients), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
