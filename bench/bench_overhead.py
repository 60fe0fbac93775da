"""Per-call overhead: `tools/call` over stdio against the in-process sandbox vs the API layer alone.

    python bench/bench_overhead.py [--calls N] [--profile]

Paths, same run, same seeded sandbox directory, sequential calls, one at a time:

- mcp: `dversum-mcp` (no token) spawned over stdio; the bench writes the JSON-RPC line and
  reads the answer (a bare peer, no SDK client parsing on our side of the pipe);
- direct: `ApiClient.request` against the same sandbox app in this process, in a tight loop
  (what the tool does underneath: same method, path and query);
- pipe: the same `ApiClient.request` in a child process answering JSON lines on stdin/stdout
  without MCP (the process hop and a cold cache per request, but no protocol);
- floor: `bench/floor_server.py`'s one `echo` tool over stdio (the SDK's own per-call cost),
  and the same with `--asyncio-pipes` (what the SDK's thread hop per line costs).

Overhead = mcp − direct (p50 and p99), as the target is stated; mcp − pipe is what the MCP
layer (SDK + dversum-mcp) costs on top of a process that does the same request.
`--profile` writes a pyinstrument profile of the server's call path (in-process, SDK
in-memory client) to bench/results/overhead_profile.txt.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_startup import server_cmd
from bench_util import BENCH_DIR, PYTHON, StdioPeer, base_env, machine, summary

__all__ = ["CASES", "run"]

UNLIMITED = "1000000"


def _cases(client_id: str) -> list[tuple[str, str, dict[str, Any], str, str, dict[str, Any]]]:
    """(label, tool, arguments, method, path, query) — the tool call and the request it makes."""
    return [
        ("get_client", "get_client", {"client_id": client_id}, "GET", f"/clients/{client_id}", {}),
        ("list_clients", "list_clients", {"per_page": 25}, "GET", "/clients", {"per_page": 25}),
    ]


CASES = ("get_client", "list_clients")


def _timed(fn: Callable[[], Any], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


async def _direct(data_dir: Path, cases: list[Any], calls: int, warmup: int) -> dict[str, list[float]]:
    import httpx2

    from dversum_mcp.api.client import ApiClient
    from dversum_mcp.api.limiter import RateLimiter
    from dversum_mcp.backend import SANDBOX_BASE_URL
    from dversum_sandbox import SandboxSettings, create_app

    token = (data_dir / "token").read_text().strip()
    app = create_app(SandboxSettings(data_dir=data_dir, rate_limit=int(UNLIMITED)))
    client = ApiClient(
        base_url=SANDBOX_BASE_URL,
        token=token,
        transport=httpx2.ASGITransport(app=app),
        limiter=RateLimiter(int(UNLIMITED), 60.0),
    )
    out: dict[str, list[float]] = {}
    try:
        async with client:
            for label, _tool, _args, method, path, query in cases:
                for _ in range(warmup):
                    await client.request(method, path, query=query)
                samples = []
                for _ in range(calls):
                    t = time.perf_counter()
                    await client.request(method, path, query=query)
                    samples.append((time.perf_counter() - t) * 1000)
                out[label] = samples
    finally:
        await app.aclose()
    return out


def _pipe_server(data_dir: Path) -> None:
    """Child mode: one JSON line in ({method, path, query}), one JSON line out; no MCP."""
    import asyncio

    import httpx2

    from dversum_mcp.api.client import ApiClient
    from dversum_mcp.api.limiter import RateLimiter
    from dversum_mcp.backend import SANDBOX_BASE_URL
    from dversum_sandbox import SandboxSettings, create_app

    token = (data_dir / "token").read_text().strip()
    app = create_app(SandboxSettings(data_dir=data_dir, rate_limit=int(UNLIMITED)))
    client = ApiClient(
        base_url=SANDBOX_BASE_URL,
        token=token,
        transport=httpx2.ASGITransport(app=app),
        limiter=RateLimiter(int(UNLIMITED), 60.0),
    )
    loop = asyncio.new_event_loop()
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        req = json.loads(line)
        resp = loop.run_until_complete(client.request(req["method"], req["path"], query=req["query"]))
        out.write(json.dumps({"status": resp.status, "data": resp.data}, separators=(",", ":")).encode() + b"\n")
        out.flush()
    loop.run_until_complete(client.aclose())
    loop.run_until_complete(app.aclose())


def _pipe(data_dir: Path, env: dict[str, str], cases: list[Any], calls: int, warmup: int) -> dict[str, list[float]]:
    import subprocess

    proc = subprocess.Popen(
        [PYTHON, str(Path(__file__).resolve()), "--pipe-server", str(data_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )
    assert proc.stdin is not None and proc.stdout is not None
    stdin, stdout = proc.stdin, proc.stdout

    def one(line: bytes) -> None:
        stdin.write(line)
        stdin.flush()
        if not stdout.readline():
            raise RuntimeError("pipe server died")

    out: dict[str, list[float]] = {}
    try:
        for label, _tool, _args, method, path, query in cases:
            line = json.dumps({"method": method, "path": path, "query": query}).encode() + b"\n"
            for _ in range(warmup):
                one(line)
            out[label] = _timed(lambda line=line: one(line), calls)
    finally:
        stdin.close()
        proc.wait(10)
        stdout.close()
    return out


def _first_client_id(peer: StdioPeer) -> str:
    result = peer.call("list_clients", {"per_page": 1})
    return str(result["structuredContent"]["clients"][0]["id"])


def run(quick: bool = False, calls: int | None = None) -> dict[str, Any]:
    calls = calls or (300 if quick else 2000)
    warmup = 50 if quick else 200
    tmp = Path(tempfile.mkdtemp(prefix="dversum-bench-overhead-"))
    data_dir = tmp / "sandbox"
    env = base_env(
        DVERSUM_SANDBOX_DIR=str(data_dir), DVERSUM_RATE_LIMIT=UNLIMITED, DVERSUM_SANDBOX_RATE_LIMIT=UNLIMITED
    )
    result: dict[str, Any] = {"calls": calls, "machine": machine(), "cases": {}}
    try:
        mcp_samples: dict[str, list[float]] = {}
        with StdioPeer(server_cmd(), env) as peer:
            peer.initialize()
            cases = _cases(_first_client_id(peer))
            for label, tool, args, *_ in cases:
                for _ in range(warmup):
                    reply = peer.call(tool, args)
                assert not reply.get("isError"), reply
                mcp_samples[label] = _timed(lambda tool=tool, args=args: peer.call(tool, args), calls)
                result["cases"].setdefault(label, {})["response_bytes"] = len(json.dumps(reply))
        direct = anyio.run(_direct, data_dir, cases, calls, warmup)
        pipe = _pipe(data_dir, env, cases, calls, warmup)
        floors: dict[str, list[float]] = {}
        for key, extra in (("floor_echo_ms", []), ("floor_echo_asyncio_pipes_ms", ["--asyncio-pipes"])):
            with StdioPeer([PYTHON, str(BENCH_DIR / "floor_server.py"), *extra], base_env()) as floor:
                floor.initialize()
                for _ in range(warmup):
                    floor.call("echo", {"text": "hello"})
                floors[key] = _timed(lambda floor=floor: floor.call("echo", {"text": "hello"}), calls)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for key, samples in floors.items():
        result[key] = summary(samples)
    for label in CASES:
        m, d, p = summary(mcp_samples[label]), summary(direct[label]), summary(pipe[label])
        result["cases"][label].update(
            {
                "mcp_ms": m,
                "direct_ms": d,
                "pipe_ms": p,
                "overhead_p50_ms": round(m["p50"] - d["p50"], 3),
                "overhead_p99_ms": round(m["p99"] - d["p99"], 3),
                "mcp_layer_p50_ms": round(m["p50"] - p["p50"], 3),
            }
        )
    return result


# ---- profiling the server's call path (in-process) ----------------------------------------------
async def _profile_calls(calls: int) -> str:
    import httpx2
    from mcp import Client
    from pyinstrument import Profiler

    from dversum_mcp.api.client import ApiClient
    from dversum_mcp.api.limiter import RateLimiter
    from dversum_mcp.backend import SANDBOX_BASE_URL
    from dversum_mcp.config import Secret, Settings
    from dversum_mcp.registry import Registry, Selection
    from dversum_mcp.server import ServerState, build_server
    from dversum_sandbox import SandboxSettings, create_app
    from dversum_sandbox.seed import ensure_seeded

    tmp = Path(tempfile.mkdtemp(prefix="dversum-bench-profile-"))
    try:
        settings = SandboxSettings(data_dir=tmp, rate_limit=int(UNLIMITED))
        seeded = await ensure_seeded(settings)
        app = create_app(settings)
        api = ApiClient(
            base_url=SANDBOX_BASE_URL,
            token=seeded.token,
            transport=httpx2.ASGITransport(app=app),
            limiter=RateLimiter(int(UNLIMITED), 60.0),
        )
        state = ServerState(Settings(token=Secret("")), Registry(), api, Selection(sandbox=True))
        async with api, Client(build_server(state), mode="legacy") as client:
            for _ in range(100):
                await client.call_tool("list_clients", {"per_page": 25})
            profiler = Profiler(interval=0.0002, async_mode="enabled")
            with profiler:
                for _ in range(calls):
                    await client.call_tool("list_clients", {"per_page": 25})
        await app.aclose()
        return str(profiler.output_text(unicode=True, show_all=False))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--pipe-server", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pipe_server:
        _pipe_server(args.pipe_server)
        return 0
    if args.profile:
        text = anyio.run(_profile_calls, args.calls or 1000)
        out = BENCH_DIR / "results" / "overhead_profile.txt"
        out.write_text(text)
        print(text)
        return 0
    print(json.dumps(run(args.quick, args.calls), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
