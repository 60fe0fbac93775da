"""Per-call overhead: `tools/call` over stdio against the in-process sandbox vs the API layer alone.

    python bench/bench_overhead.py [--calls N] [--profile]

Paths, same run, same seeded sandbox directory, sequential calls, one at a time; the paths
take turns in rounds of 25 calls each, so load from elsewhere on the machine falls on all alike:

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
import contextlib
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


class _Direct:
    """The API layer alone, in this process: `ApiClient.request` against the same sandbox app,
    on an event loop kept between blocks (each block is one `run_until_complete`; the samples
    time only the awaited request, so the baseline carries no loop start-up)."""

    def __init__(self, data_dir: Path) -> None:
        import asyncio

        import httpx2

        from dversum_mcp.api.client import ApiClient
        from dversum_mcp.api.limiter import RateLimiter
        from dversum_mcp.cli.backend import SANDBOX_BASE_URL
        from dversum_sandbox import SandboxSettings, create_app

        self.loop = asyncio.new_event_loop()
        token = (data_dir / "token").read_text().strip()
        self.app = create_app(SandboxSettings(data_dir=data_dir, rate_limit=int(UNLIMITED)))
        self.client = ApiClient(
            base_url=SANDBOX_BASE_URL,
            token=token,
            transport=httpx2.ASGITransport(app=self.app),
            limiter=RateLimiter(int(UNLIMITED), 60.0),
        )

    def block(self, method: str, path: str, query: dict[str, Any], n: int) -> list[float]:
        async def timed() -> list[float]:
            samples = []
            for _ in range(n):
                t = time.perf_counter()
                await self.client.request(method, path, query=query)
                samples.append((time.perf_counter() - t) * 1000)
            return samples

        return self.loop.run_until_complete(timed())

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.run_until_complete(self.app.aclose())
        self.loop.close()


def _pipe_server(data_dir: Path) -> None:
    """Child mode: one JSON line in ({method, path, query}), one JSON line out; no MCP."""
    direct = _Direct(data_dir)
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        req = json.loads(line)
        resp = direct.loop.run_until_complete(direct.client.request(req["method"], req["path"], query=req["query"]))
        out.write(json.dumps({"status": resp.status, "data": resp.data}, separators=(",", ":")).encode() + b"\n")
        out.flush()
    direct.close()


class _Pipe:
    """The pipe server as a child process: the same request behind a process hop, without MCP."""

    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        import subprocess

        self.proc = subprocess.Popen(
            [PYTHON, str(Path(__file__).resolve()), "--pipe-server", str(data_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )

    def one(self, line: bytes) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line)
        self.proc.stdin.flush()
        if not self.proc.stdout.readline():
            raise RuntimeError("pipe server died")

    def close(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        self.proc.wait(10)
        self.proc.stdout.close()


def _first_client_id(peer: StdioPeer) -> str:
    result = peer.call("list_clients", {"per_page": 1})
    return str(result["structuredContent"]["clients"][0]["id"])


BLOCK = 25
"""Calls per path per round. Paths take turns in rounds (rotating which goes first), so a
burst of load from elsewhere on the machine hits every path alike instead of one."""


def run(quick: bool = False, calls: int | None = None) -> dict[str, Any]:
    calls = calls or (300 if quick else 2000)
    warmup = 50 if quick else 200
    rounds = max(1, calls // BLOCK)
    tmp = Path(tempfile.mkdtemp(prefix="dversum-bench-overhead-"))
    data_dir = tmp / "sandbox"
    env = base_env(
        DVERSUM_SANDBOX_DIR=str(data_dir), DVERSUM_RATE_LIMIT=UNLIMITED, DVERSUM_SANDBOX_RATE_LIMIT=UNLIMITED
    )
    result: dict[str, Any] = {"calls": rounds * BLOCK, "block": BLOCK, "machine": machine(), "cases": {}}
    samples: dict[str, dict[str, list[float]]] = {}
    floors: dict[str, list[float]] = {"floor_echo_ms": [], "floor_echo_asyncio_pipes_ms": []}
    try:
        with contextlib.ExitStack() as stack:
            peer = stack.enter_context(StdioPeer(server_cmd(), env))
            peer.initialize()
            cases = _cases(_first_client_id(peer))  # seeds the sandbox directory the others open
            direct = _Direct(data_dir)
            stack.callback(direct.close)
            pipe = _Pipe(data_dir, env)
            stack.callback(pipe.close)
            floor_peers = {}
            for key, extra in (("floor_echo_ms", []), ("floor_echo_asyncio_pipes_ms", ["--asyncio-pipes"])):
                floor = stack.enter_context(StdioPeer([PYTHON, str(BENCH_DIR / "floor_server.py"), *extra], base_env()))
                floor.initialize()
                floor_peers[key] = floor
            for label, tool, args, method, path, query in cases:
                line = json.dumps({"method": method, "path": path, "query": query}).encode() + b"\n"
                paths: list[tuple[str, Callable[[int], list[float]]]] = [
                    ("mcp", lambda n, tool=tool, args=args: _timed(lambda: peer.call(tool, args), n)),
                    ("direct", lambda n, m=method, p=path, q=query: direct.block(m, p, q, n)),
                    ("pipe", lambda n, line=line: _timed(lambda: pipe.one(line), n)),
                ]
                for key, floor in floor_peers.items():
                    paths.append((key, lambda n, f=floor: _timed(lambda: f.call("echo", {"text": "hello"}), n)))
                for _name, measure in paths:
                    measure(warmup)
                reply = peer.call(tool, args)
                assert not reply.get("isError"), reply
                result["cases"].setdefault(label, {})["response_bytes"] = len(json.dumps(reply))
                got: dict[str, list[float]] = {name: [] for name, _ in paths}
                for r in range(rounds):
                    for name, measure in paths[r % len(paths) :] + paths[: r % len(paths)]:
                        got[name] += measure(BLOCK)
                samples[label] = got
                for key in floors:
                    floors[key] += got[key]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for key, values in floors.items():
        result[key] = summary(values)
    for label in CASES:
        m, d, p = (summary(samples[label][k]) for k in ("mcp", "direct", "pipe"))
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
    from dversum_mcp.cli.backend import SANDBOX_BASE_URL
    from dversum_mcp.config import Secret, Settings
    from dversum_mcp.server.handlers import ServerState, build_server
    from dversum_mcp.tools.registry import Registry, Selection
    from dversum_sandbox import SandboxSettings, create_app
    from dversum_sandbox.seed.workspace import ensure_seeded

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
