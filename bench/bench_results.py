#!/usr/bin/env python3
"""Result sizes: does every list answer fit the result budget, and do cursor walks return every item once?

On the seeded sandbox plus 700 extra time entries, every paged list tool is called through the
SDK's client (in memory) three ways: its first page, `per_page: 100`, and `all_pages: true`.
Tokens are counted with tiktoken `o200k_base` (rank file from `scripts/setup.d/tiktoken.sh`),
the text and `structuredContent` separately, and compared with the server's own estimate.
Then each list is walked with `next_cursor` to the end (every item exactly once?), and the
time entries once more with 40 entries inserted between the calls (before and after the
cursor in the list's order). Results go to `bench/results/results.json`.

    python bench/bench_results.py [--out FILE] [--extra 700]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(ROOT / ".cache" / "tiktoken"))

import httpx2  # noqa: E402
import tiktoken  # noqa: E402
from mcp import Client  # noqa: E402

from dversum_mcp.api.client import ApiClient  # noqa: E402
from dversum_mcp.api.limiter import RateLimiter  # noqa: E402
from dversum_mcp.config import Secret, Settings  # noqa: E402
from dversum_mcp.server.handlers import ServerState, build_server  # noqa: E402
from dversum_mcp.server.tokens import estimate_tokens  # noqa: E402
from dversum_mcp.tools.registry import Registry, Selection  # noqa: E402
from dversum_sandbox import SandboxSettings, create_app  # noqa: E402
from dversum_sandbox.seed.workspace import seed  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "results.json"
CORPUS: list[str] = []  # every measured text, for --dump (calibrating the estimate)
URL = "http://sandbox.localhost/api/v1"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


async def add_time_entries(
    http: httpx2.AsyncClient, count: int, project_id: str, task_id: str, start: datetime
) -> None:
    for i in range(count):
        begin = start + timedelta(hours=3 * i)
        body = {
            "task_id": task_id,
            "project_id": project_id,
            "started_at": begin.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "ended_at": (begin + timedelta(minutes=45 + i % 90)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "description": ["Abstimmung", "Konzept", "Umsetzung Startseite", "Review mit Kunde"][i % 4],
            "billable": i % 5 != 0,
        }
        response = await http.post("/time-entries", json=body)
        response.raise_for_status()


async def _list_args(client: Client, ids: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Required arguments of each paged list tool, from ids in the seeded workspace."""
    return {
        "list_project_tasks": {"project_id": ids["project"]},
        "list_task_comments": {"task_id": ids["task"]},
        "list_webhook_deliveries": {"webhook_id": ids["webhook"]},
        "list_calendar_events": {"from": "2026-01-01", "to": "2026-12-31"},
    }


async def measure(extra: int) -> dict[str, Any]:
    enc = tiktoken.get_encoding("o200k_base")
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(SandboxSettings(data_dir=Path(tmp), rate_limit=1_000_000))
        seeded = await seed(app)
        transport = httpx2.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {seeded.token}"}
        async with httpx2.AsyncClient(transport=transport, base_url=URL, headers=headers) as http:
            projects = (await http.get("/projects", params={"per_page": 100})).json()["projects"]
            project = next(p for p in projects if p["name"].startswith("SEO"))
            tasks = (await http.get(f"/projects/{project['id']}/tasks")).json()["tasks"]
            hook = await http.post("/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["invoice.paid"]})
            hook.raise_for_status()
            ids = {"project": project["id"], "task": tasks[0]["id"], "webhook": hook.json()["id"]}
            started = time.perf_counter()
            await add_time_entries(http, extra, project["id"], tasks[0]["id"], datetime(2026, 1, 5, 7, tzinfo=UTC))
            insert_s = time.perf_counter() - started
            registry = Registry()
            api = ApiClient(base_url=URL, token=seeded.token, transport=transport, limiter=RateLimiter(1_000_000, 60))
            state = ServerState(
                settings=Settings(token=Secret("")),
                registry=registry,
                client=api,
                selection=Selection(toolsets=("all",), sandbox=True),
                dynamic=False,
            )
            async with api, Client(build_server(state)) as client:
                out = await _run(client, registry, enc, ids, http, project["id"], tasks[0]["id"])
        app.db.close()
    out["setup"] = {"extra_time_entries": extra, "insert_s": round(insert_s, 2), "budget": 6000}
    return out


async def _run(
    client: Client, registry: Registry, enc: Any, ids: dict[str, str], http: httpx2.AsyncClient, pid: str, tid: str
) -> dict[str, Any]:
    special = await _list_args(client, ids)
    tools = [t.spec.name for t in registry.tools.values() if t.spec.paginated]
    per_tool: dict[str, Any] = {}
    samples: list[dict[str, Any]] = []
    for name in tools:
        base = special.get(name, {})
        row: dict[str, Any] = {}
        for label, extra_args in (
            ("first", {}),
            ("per_page_100", {"per_page": 100}),
            ("all_pages", {"all_pages": True}),
        ):
            result = await client.call_tool(name, {**base, **extra_args})
            if result.is_error:
                row[label] = {"error": result.content[0].text[:200]}
                continue
            text = result.content[0].text
            structured = result.structured_content or {}
            key = next((k for k, v in structured.items() if isinstance(v, list)), None)
            items = len(structured.get(key, [])) if key else 0
            t_text, t_struct = len(enc.encode(text)), len(enc.encode(_json(structured)))
            lines = text.splitlines()
            start = next((i for i, line in enumerate(lines) if line.startswith("id |")), 1) + 1
            t_rows = len(enc.encode("\n".join(lines[start : start + items])))
            row[label] = {
                "items": items,
                "total": structured.get("total"),
                "text_tokens": t_text,
                "structured_tokens": t_struct,
                "text_tokens_per_item": round(t_text / items, 1) if items else None,
                "row_tokens_per_item": round(t_rows / items, 1) if items else None,
                "structured_tokens_per_item": round(t_struct / items, 1) if items else None,
                "estimate_text": estimate_tokens(text),
                "more": "next_cursor" in structured,
            }
            samples.append({"tool": name, "real": t_text, "estimate": estimate_tokens(text)})
            samples.append({"tool": name, "real": t_struct, "estimate": estimate_tokens(_json(structured))})
            CORPUS.extend([text, _json(structured)])
        walk = await _walk(client, name, base)
        walk_pp = await _walk(client, name, {**base, "per_page": 10})
        row["walk_all_pages"] = walk
        row["walk_per_page_10"] = walk_pp
        per_tool[name] = row
    concurrent = await _walk_with_inserts(client, http, pid, tid)
    largest = max(
        (max(v.get("text_tokens", 0), v.get("structured_tokens", 0)), k, label)
        for k, row in per_tool.items()
        for label, v in row.items()
        if isinstance(v, dict) and "text_tokens" in v
    )
    ratios = [s["estimate"] / s["real"] for s in samples if s["real"] > 50]
    return {
        "tools": per_tool,
        "largest": {"tokens": largest[0], "tool": largest[1], "call": largest[2]},
        "walks_exact": all(r["walk_all_pages"]["exact"] and r["walk_per_page_10"]["exact"] for r in per_tool.values()),
        "concurrent_walk": concurrent,
        "estimate": {
            "samples": len(ratios),
            "min_ratio": round(min(ratios), 3),
            "max_ratio": round(max(ratios), 3),
            "mean_ratio": round(sum(ratios) / len(ratios), 3),
        },
    }


async def _walk(client: Client, name: str, base: dict[str, Any]) -> dict[str, Any]:
    seen: list[str] = []
    args: dict[str, Any] = {**base} if "per_page" in base else {**base, "all_pages": True}
    calls = 0
    total = None
    while calls < 500:
        result = await client.call_tool(name, args)
        calls += 1
        if result.is_error:
            return {"error": result.content[0].text[:200], "exact": False}
        structured = result.structured_content or {}
        key = next((k for k, v in structured.items() if isinstance(v, list)), None)
        seen.extend(str(i.get("id")) for i in structured.get(key, []) if isinstance(i, dict)) if key else None
        total = structured.get("total")
        cursor = structured.get("next_cursor")
        if not cursor:
            break
        args = {**base, "cursor": cursor}
    exact = len(seen) == len(set(seen)) == (total or 0)
    return {"calls": calls, "items": len(seen), "unique": len(set(seen)), "total": total, "exact": exact}


async def _walk_with_inserts(client: Client, http: httpx2.AsyncClient, pid: str, tid: str) -> dict[str, Any]:
    """Walk the time entries 10 at a time; after each answer add 2 entries that sort before the
    cursor and 2 after it. Every entry present at the start must come exactly once."""
    before = set()
    first = await client.call_tool("list_time_entries", {"all_pages": True})
    args: dict[str, Any] = {"per_page": 10}
    everything = first.structured_content or {}
    cursor = everything.get("next_cursor")
    while cursor:  # the ids present at the start
        before.update(i["id"] for i in everything["time_entries"])
        everything = (await client.call_tool("list_time_entries", {"cursor": cursor})).structured_content or {}
        cursor = everything.get("next_cursor")
    before.update(i["id"] for i in everything["time_entries"])
    seen: list[str] = []
    inserted = 0
    calls = 0
    early = datetime(2025, 1, 1, 8, tzinfo=UTC)
    late = datetime(2027, 6, 1, 8, tzinfo=UTC)
    while calls < 400:
        result = await client.call_tool("list_time_entries", args)
        calls += 1
        structured = result.structured_content or {}
        seen.extend(i["id"] for i in structured.get("time_entries", []))
        cursor = structured.get("next_cursor")
        if not cursor:
            break
        for when in (early, late):
            for _ in range(2):
                when += timedelta(hours=1)
                body = {
                    "task_id": tid,
                    "project_id": pid,
                    "started_at": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "ended_at": (when + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
                (await http.post("/time-entries", json=body)).raise_for_status()
                inserted += 1
            early += timedelta(hours=3)
            late += timedelta(hours=3)
        args = {"cursor": cursor}
    old_seen = [s for s in seen if s in before]
    return {
        "calls": calls,
        "present_at_start": len(before),
        "inserted_during_walk": inserted,
        "seen": len(seen),
        "repeats": len(seen) - len(set(seen)),
        "missing_of_start": len(before - set(seen)),
        "exact": len(old_seen) == len(set(old_seen)) == len(before) and len(seen) == len(set(seen)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--extra", type=int, default=700)
    parser.add_argument("--quick", action="store_true", help="accepted for run.py; the bench is quick anyway")
    parser.add_argument("--dump", type=Path, help="write every measured text to this JSON file")
    args = parser.parse_args()
    started = time.perf_counter()
    out = asyncio.run(measure(args.extra))
    if args.dump:
        args.dump.write_text(json.dumps(CORPUS, ensure_ascii=False), encoding="utf-8")
    out["seconds"] = round(time.perf_counter() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(
        f"largest answer: {out['largest']}; walks exact: {out['walks_exact']}; "
        f"concurrent: {out['concurrent_walk']}; estimate/real: {out['estimate']}"
    )
    for name, row in out["tools"].items():
        p = row.get("per_page_100", {})
        print(
            f"  {name:28} {p.get('items')!s:>4}/{p.get('total')!s:<5} text {p.get('text_tokens')!s:>5} "
            f"({p.get('text_tokens_per_item')}/item, rows {p.get('row_tokens_per_item')})  "
            f"struct {p.get('structured_tokens')!s:>5} "
            f"({p.get('structured_tokens_per_item')}/item)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
