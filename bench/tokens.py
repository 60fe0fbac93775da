"""What the tool listings cost in tokens: dversum-mcp's selections next to peer MCP servers.

    python bench/tokens.py [--cache DIR] [--no-peers] [--out bench/results/tokens.json]

Counts with tiktoken's `o200k_base` (exact ranks, from the npm package `tiktoken`; see
`_tokenizer.py`). For every listing, two views:

- full: the `tools/list` result as JSON (compact, what goes over the wire and what a client
  that passes tool definitions through verbatim puts in context);
- model: per tool only name + description + inputSchema (what most clients hand the model).

Mean per tool is the listing's total over its tool count; max is the costliest single tool.
dversum-mcp runs in-process (the real server and SDK client; no API call is made). Peers
are npm packages started over stdio with dummy credentials inside an empty network
namespace (`unshare -n`), so they cannot send traffic; only `tools/list` is called.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _tokenizer import load_encoding, npm_install

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CACHE = Path(os.environ.get("DVERSUM_BENCH_CACHE", "/tmp/dversum-bench-npm"))
TIKTOKEN_NPM = "tiktoken@1.0.22"
DISCOVERY = {"search_tools", "describe_tool", "call_read_tool", "call_write_tool", "list_toolsets", "enable_toolset"}


@dataclass(frozen=True)
class Peer:
    label: str
    package: str
    version: str
    bin: str
    env: dict[str, str]


PEERS = (
    Peer("Notion (official)", "@notionhq/notion-mcp-server", "2.5.2", "bin/cli.mjs", {"NOTION_TOKEN": "ntn_dummy"}),
    Peer(
        "Linear (tacticlaunch)",
        "@tacticlaunch/mcp-linear",
        "1.4.3",
        "dist/index.js",
        {"LINEAR_API_TOKEN": "lin_api_dummy"},
    ),
    Peer(
        "GitLab (zereight)",
        "@zereight/mcp-gitlab",
        "2.1.64",
        "build/index.js",
        {"GITLAB_PERSONAL_ACCESS_TOKEN": "glpat-dummy", "GITLAB_API_URL": "http://127.0.0.1:9/api/v4"},
    ),
    Peer("Todoist (official)", "@doist/todoist-mcp", "11.0.0", "dist/main.js", {"TODOIST_API_KEY": "dummy"}),
)


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class Counter:
    def __init__(self, encoding: Any) -> None:
        self.encoding = encoding

    def __call__(self, value: Any) -> int:
        text = value if isinstance(value, str) else _compact(value)
        return len(self.encoding.encode(text, disallowed_special=()))

    def listing(self, label: str, result: Any, instructions: str | None = None) -> dict[str, Any]:
        """Token figures for one `ListToolsResult` (an SDK model)."""
        full = result.model_dump(by_alias=True, exclude_none=True, mode="json")
        tools = full["tools"]
        per_full = [self(t) for t in tools]
        per_model = [self({k: t[k] for k in ("name", "description", "inputSchema") if k in t}) for t in tools]
        n = max(len(tools), 1)
        total_full = self(full)
        total_model = self([{k: t[k] for k in ("name", "description", "inputSchema") if k in t} for t in tools])
        return {
            "listing": label,
            "tools": len(tools),
            "discovery_tools": sum(1 for t in tools if t["name"] in DISCOVERY),
            "full_total": total_full,
            "full_mean": round(total_full / n, 1),
            "full_max": max(per_full, default=0),
            "model_total": total_model,
            "model_mean": round(total_model / n, 1),
            "model_max": max(per_model, default=0),
            "chars": len(_compact(full)),
            "instructions_tokens": self(instructions) if instructions else 0,
            "names": [t["name"] for t in tools],
        }


# ---- dversum-mcp, in-process ---------------------------------------------------------------------------------
async def measure_dversum(count: Counter) -> list[dict[str, Any]]:
    import httpx2
    from mcp import Client

    from dversum_mcp.api.client import ApiClient
    from dversum_mcp.config import Secret, Settings
    from dversum_mcp.server.handlers import ServerState, build_server
    from dversum_mcp.tools.manifest import TOOLSET_ORDER
    from dversum_mcp.tools.registry import Registry, Selection

    class NoNetwork(httpx2.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
            raise RuntimeError("the token bench makes no API calls")

    registry = Registry()
    settings = Settings(token=Secret("bench-no-calls"))
    dynamic = Settings(token=Secret("bench-no-calls"), dynamic=True)
    cases: list[tuple[str, Settings, Selection]] = [
        ("default", settings, Selection()),
        ("all", settings, Selection(toolsets=("all",))),
        ("read-only (all toolsets)", settings, Selection(toolsets=("all",), read_only=True)),
        ("read-only (default)", settings, Selection(read_only=True)),
        ("documented-only (all toolsets)", settings, Selection(toolsets=("all",), documented_only=True)),
        ("dynamic", dynamic, Selection()),
    ]
    # One row per toolset (its tools + the 4 discovery tools). The sandbox toolset is only served
    # without an API token, so it has no row of its own.
    cases += [
        (f"toolset {name}", settings, Selection(toolsets=(name,)))
        for name in TOOLSET_ORDER
        if name != "sandbox" and any(t.spec.toolset == name for t in registry.tools.values())
    ]
    rows = []
    for label, cfg, selection in cases:
        registry.check_names(selection)
        api = ApiClient(base_url="http://unused.invalid/api/v1", token="x", transport=NoNetwork())
        state = ServerState(settings=cfg, registry=registry, client=api, selection=selection, dynamic=cfg.dynamic)
        async with api, Client(build_server(state), mode="legacy") as client:
            result = await client.list_tools()
            rows.append(count.listing(label, result, client.instructions))
    return rows


# ---- peers over stdio --------------------------------------------------------------------------------------------
def _netns_ok() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


async def measure_peer(count: Counter, peer: Peer, cache: Path, log: Path) -> dict[str, Any]:
    from mcp import Client, StdioServerParameters

    entry = cache / "node_modules" / peer.package / peer.bin
    version = json.loads((cache / "node_modules" / peer.package / "package.json").read_text())["version"]
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(cache), "NODE_ENV": "production", **peer.env}
    # stderr of the peer goes to a log file; the peer itself runs in an empty network namespace.
    params = StdioServerParameters(
        command="sh",
        args=["-c", f'exec "$0" "$@" 2>>"{log}"', "unshare", "-n", "node", str(entry)],
        env=env,
        cwd=str(cache),
    )
    started = time.monotonic()
    with anyio.fail_after(90):
        async with Client(params, mode="legacy") as client:
            result = await client.list_tools()
            pages = 1
            while result.next_cursor and pages < 20:  # no peer pages today; be correct if one starts to
                more = await client.list_tools(cursor=result.next_cursor)
                result.tools.extend(more.tools)
                result.next_cursor = more.next_cursor
                pages += 1
            row = count.listing(f"{peer.label} {peer.package}@{version}", result, client.instructions)
    row["seconds"] = round(time.monotonic() - started, 2)
    return row


# ---- output -----------------------------------------------------------------------------------------------------
def table(rows: Sequence[dict[str, Any]], title: str) -> str:
    head = (
        f"| {title} | tools | full total | full mean | full max | model total | model mean | model max |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [head]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['listing']} | failed to start: {r['error']} | | | | | | |")
            continue
        lines.append(
            f"| {r['listing']} | {r['tools']} | {r['full_total']:,} | {r['full_mean']:.0f} | {r['full_max']} "
            f"| {r['model_total']:,} | {r['model_mean']:.0f} | {r['model_max']} |"
        )
    return "\n".join(lines)


def budgets(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    by = {r["listing"]: r for r in rows}
    default_tools = by["default"]["tools"] - by["default"]["discovery_tools"]
    return [
        {
            "budget": "all: mean tokens per tool (full result) <= 120",
            "value": by["all"]["full_mean"],
            "ok": by["all"]["full_mean"] <= 120,
        },
        {
            "budget": "default: tools listed (besides discovery) <= 40",
            "value": default_tools,
            "ok": default_tools <= 40,
        },
        {
            "budget": "dynamic: tokens of the full listing <= 1,500",
            "value": by["dynamic"]["full_total"],
            "ok": by["dynamic"]["full_total"] <= 1500,
        },
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="npm install folder (default %(default)s)")
    parser.add_argument("--no-peers", action="store_true", help="measure dversum-mcp only")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "tokens.json")
    args = parser.parse_args(argv)
    started = time.monotonic()

    cache: Path = args.cache.resolve()
    wanted = [TIKTOKEN_NPM] + ([] if args.no_peers else [f"{p.package}@{p.version}" for p in PEERS])
    missing = [w for w in wanted if not (cache / "node_modules" / w.rsplit("@", 1)[0] / "package.json").exists()]
    if missing:
        print(f"npm install into {cache}: {' '.join(missing)}", file=sys.stderr)
        npm_install(cache, *missing)
    count = Counter(load_encoding(cache))

    ours = anyio.run(measure_dversum, count)
    peers: list[dict[str, Any]] = []
    if not args.no_peers:
        isolated = _netns_ok()
        log = cache / "peers-stderr.log"
        log.write_text("")
        for peer in PEERS:
            if not isolated:
                peers.append({"listing": f"{peer.label} {peer.package}", "error": "not run: `unshare -n` unavailable"})
                continue
            try:
                peers.append(anyio.run(measure_peer, count, peer, cache, log))
            except Exception as exc:  # a peer that fails is reported, not faked
                peers.append({"listing": f"{peer.label} {peer.package}", "error": f"{type(exc).__name__}: {exc}"[:200]})

    elapsed = round(time.monotonic() - started, 1)
    checks = budgets(ours)
    print("dversum-mcp — tokens (o200k_base) of the tools/list result; mean/max per tool; tools include discovery\n")
    print(table(ours, "listing"))
    if peers:
        dv_all = next(r for r in ours if r["listing"] == "all")
        dv_default = next(r for r in ours if r["listing"] == "default")
        print("\nPeers (default configuration, same script and run)\n")
        print(
            table(
                [{**dv_default, "listing": "dversum-mcp default"}, {**dv_all, "listing": "dversum-mcp all"}, *peers],
                "server",
            )
        )
    print("\nBudgets")
    for check in checks:
        print(f"  {'PASS' if check['ok'] else 'FAIL'}  {check['budget']}: {check['value']}")
    instr = ours[0]["instructions_tokens"]
    print(f"\nServer instructions (conventions, said once): {instr} tokens. Took {elapsed} s.")

    import mcp
    import tiktoken

    report = {
        "tokenizer": "o200k_base (tiktoken " + tiktoken.__version__ + ", ranks from npm " + TIKTOKEN_NPM + ")",
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": f"{platform.system()} {platform.machine()}",
        },
        "mcp_sdk": getattr(mcp, "__version__", None) or _dist_version("mcp"),
        "seconds": elapsed,
        "dversum": ours,
        "peers": peers,
        "budgets": checks,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    print(f"Wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0 if all(c["ok"] for c in checks) else 1


def _dist_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


if __name__ == "__main__":
    raise SystemExit(main())
