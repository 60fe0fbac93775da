"""The benchmark suite in one command: run, print the table, write JSON + plot, compare with last time.

    python bench/run.py            # full run (≈5 min on 2 cores), results in bench/results/
    python bench/run.py --quick    # ≈1-minute smoke run, results in bench/results/quick/
    python bench/run.py --only startup,overhead --fail-on-regression

Benches: startup (cold start vs the floor server), overhead (per-call latency over stdio vs the API
layer), throughput (Streamable HTTP, 32 clients), ratelimit (500 calls at 120/min, time scaled
down), memory (RSS idle → 10,000 calls), markdown (`bench_markdown.py`) and tokens (`tokens.py`).
Optional, only with `--only remote`: the multi-user server under load (`bench_remote.py`: 16 users ×
4 clients through nginx to 2 and to 1 replica). Each writes `<name>.json`; `summary.json` holds the
flat metrics. The previous `summary.json` (if any) is the baseline: deltas are printed and
regressions over 10 % are flagged (`--fail-on-regression` turns them into exit code 1). Timings on a
shared machine are noisy; ratios measured in the same run (vs the floor, vs direct) are steadier.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_util import BENCH_DIR, PYTHON, ROOT, base_env, machine

RESULTS = BENCH_DIR / "results"
BENCHES = ("startup", "overhead", "throughput", "ratelimit", "memory", "markdown", "tokens", "results")
OPTIONAL = ("remote",)  # only with --only: needs redis-server and nginx, takes ≈ 3 min (≈ 1 min --quick)
REGRESSION = 0.10

# metric key → (unit, better: "lower" | "higher" | None for information only)
Metric = tuple[float, str, str | None]


# ---- running ----------------------------------------------------------------------------------
def _module_bench(name: str) -> Callable[[bool], dict[str, Any]]:
    def run(quick: bool) -> dict[str, Any]:
        module = __import__(f"bench_{name}")
        return dict(module.run(quick=quick))

    return run


def _script_bench(script: str, quick_args: list[str], full_args: list[str], produced: str, fixed: bool) -> Any:
    """Run another engineer's script as it is. `fixed`: it always writes bench/results/<produced>;
    for a run into another directory the result is moved there and the committed file restored."""

    def run(quick: bool, out_dir: Path) -> dict[str, Any]:
        target = out_dir / produced
        written = RESULTS / produced if fixed else target
        args = [a.replace("{out}", str(target)) for a in (quick_args if quick else full_args)]
        keep = written.read_bytes() if fixed and written != target and written.exists() else None
        try:
            proc = subprocess.run(
                [PYTHON, str(BENCH_DIR / script), *args],
                env=base_env(PYTHONPATH=str(ROOT / "src")),
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=900,
            )
            if proc.returncode != 0:
                raise RuntimeError(f"{script} exited {proc.returncode}: {(proc.stderr or proc.stdout)[-800:]}")
            text = written.read_text(encoding="utf-8")
        finally:
            if keep is not None and written.exists():
                if written.read_bytes() != keep:
                    target.write_bytes(written.read_bytes())
                written.write_bytes(keep)
        return dict(json.loads(text))

    return run


SCRIPTS = {
    "markdown": _script_bench("bench_markdown.py", ["--quick"], [], "markdown.json", fixed=True),
    "tokens": _script_bench("tokens.py", ["--no-peers", "--out", "{out}"], ["--out", "{out}"], "tokens.json", False),
    "results": _script_bench("bench_results.py", ["--out", "{out}"], ["--out", "{out}"], "results.json", False),
}


# ---- metrics ----------------------------------------------------------------------------------
def metrics(results: dict[str, dict[str, Any]]) -> dict[str, Metric]:
    m: dict[str, Metric] = {}
    if s := results.get("startup"):
        v = s["variants"]
        m["startup.floor_ms"] = (v["floor"]["tools_list_ms"]["p50"], "ms", None)
        for name in ("real", "real_nocache", "sandbox", "sandbox_seed"):
            m[f"startup.{name}_ms"] = (v[name]["tools_list_ms"]["p50"], "ms", "lower")
            m[f"startup.{name}_ratio"] = (v[name]["ratio_vs_floor"], "× floor", "lower")
        m["startup.real_cpu_ratio"] = (v["real"]["cpu_ratio_vs_floor"], "× floor", "lower")
    if o := results.get("overhead"):
        m["overhead.floor_echo_p50_ms"] = (o["floor_echo_ms"]["p50"], "ms", None)
        if "floor_echo_asyncio_pipes_ms" in o:
            m["overhead.floor_echo_asyncio_pipes_p50_ms"] = (o["floor_echo_asyncio_pipes_ms"]["p50"], "ms", None)
        for case, c in o["cases"].items():
            m[f"overhead.{case}.mcp_p50_ms"] = (c["mcp_ms"]["p50"], "ms", "lower")
            m[f"overhead.{case}.mcp_p99_ms"] = (c["mcp_ms"]["p99"], "ms", "lower")
            m[f"overhead.{case}.direct_p50_ms"] = (c["direct_ms"]["p50"], "ms", None)
            m[f"overhead.{case}.added_p50_ms"] = (c["overhead_p50_ms"], "ms", "lower")
            m[f"overhead.{case}.added_p99_ms"] = (c["overhead_p99_ms"], "ms", "lower")
            m[f"overhead.{case}.vs_pipe_p50_ms"] = (c["mcp_layer_p50_ms"], "ms", "lower")
    if t := results.get("throughput"):
        for variant, rows in t["variants"].items():
            for kind, r in rows.items():
                if not isinstance(r, dict) or "calls_per_s" not in r:
                    continue
                key = f"throughput.{variant}.{kind}"
                m[f"{key}.calls_per_s"] = (r["calls_per_s"], "calls/s", "higher")
                m[f"{key}.p99_ms"] = (r["latency_ms"]["p99"], "ms", "lower")
                m[f"{key}.errors"] = (r["errors"], "", "lower")
                if kind == "write":
                    m[f"{key}.lost_writes"] = (r["lost_writes"], "", "lower")
    if r := results.get("ratelimit"):
        for name, run in r["runs"].items():
            m[f"ratelimit.{name}.achieved_vs_allowed"] = (run["achieved_vs_allowed"], "", "higher")
            m[f"ratelimit.{name}.vs_ideal_schedule"] = (run["vs_ideal_schedule"], "", "higher")
            m[f"ratelimit.{name}.rate_limited_results"] = (run["rate_limited_results"], "", "lower")
            m[f"ratelimit.{name}.sandbox_429s"] = (run["sandbox_429s"], "", "lower")
    if mem := results.get("memory"):
        m["memory.idle_mib"] = (round(mem["idle_kib"]["VmRSS"] / 1024, 1), "MiB", "lower")
        m["memory.idle_real_api_mib"] = (round(mem["idle_real_api_kib"]["VmRSS"] / 1024, 1), "MiB", "lower")
        m["memory.rss_1k_mib"] = (round(mem["rss_1k_kib"] / 1024, 1), "MiB", "lower")
        m["memory.rss_last_mib"] = (round(mem["rss_last_kib"] / 1024, 1), "MiB", "lower")
        m["memory.peak_mib"] = (round(mem["peak_last_kib"] / 1024, 1), "MiB", "lower")
        m["memory.growth_1k_to_last_kib"] = (mem["growth_1k_to_last_kib"], "KiB", None)
    if md := results.get("markdown"):
        summ = md.get("summary", {})
        if "docs_per_s" in summ:
            m["markdown.docs_per_s"] = (summ["docs_per_s"], "docs/s", "higher")
            m["markdown.mb_per_s"] = (summ["mb_per_s"], "MB/s", "higher")
            m["markdown.ratio_vs_markdown_it"] = (summ["ratio"], "× floor", "lower")
        if "us_per_kb_range" in summ:
            lo, hi = summ["us_per_kb_range"]
            m["markdown.us_per_kb_spread"] = (round(hi / lo, 3), "max/min", "lower")
    if rem := results.get("remote"):
        for variant, r in rem["runs"].items():
            key = f"remote.{variant}"
            m[f"{key}.calls_per_s"] = (r["calls_per_s"], "calls/s", "higher")
            m[f"{key}.p50_ms"] = (r["latency_ms"]["all"]["p50"], "ms", "lower")
            m[f"{key}.p99_ms"] = (r["latency_ms"]["all"]["p99"], "ms", "lower")
            m[f"{key}.errors"] = (r["errors"], "", "lower")
            m[f"{key}.cross_user_responses"] = (r["cross_user_responses"], "", "lower")
            m[f"{key}.api_429s"] = (r["api_429s"], "", "lower")
            m[f"{key}.max_api_per_user_60s"] = (r["max_api_requests_per_user_in_60s"], "req", None)
        m["remote.ratio_2_vs_1_calls_per_s"] = (rem["ratio_2_vs_1"]["calls_per_s"], "×", "higher")
    if tok := results.get("tokens"):
        for row in tok.get("dversum", []):
            if row.get("listing") == "default":
                m["tokens.default_listing"] = (row["full_total"], "tokens", "lower")
    if res := results.get("results"):
        m["results.largest_answer_tokens"] = (res["largest"]["tokens"], "tokens", "lower")
        entries = res["tools"]["list_time_entries"]["all_pages"]
        m["results.time_entry_text_tokens"] = (entries["text_tokens_per_item"], "tokens/item", "lower")
        m["results.time_entries_per_answer"] = (entries["items"], "items", "higher")
    return m


def targets(results: dict[str, dict[str, Any]]) -> list[tuple[str, str, bool]]:
    out: list[tuple[str, str, bool]] = []
    if res := results.get("results"):
        largest = res["largest"]["tokens"]
        out.append(("largest list answer ≤ budget (6,000)", f"{largest} ({res['largest']['tool']})", largest <= 6000))
        out.append(("cursor walks return every item once", str(res["walks_exact"]), bool(res["walks_exact"])))
        concurrent = res["concurrent_walk"]["exact"]
        out.append(("walk under concurrent inserts exact", str(concurrent), concurrent))
    if s := results.get("startup"):
        r = s["variants"]["real"]["ratio_vs_floor"]
        out.append(("cold start ≤ 1.3× floor (token set)", f"{r:.2f}×", r <= 1.3))
    if o := results.get("overhead"):
        for case, c in o["cases"].items():
            out.append(
                (f"MCP path adds ≤ 1 ms p50 ({case})", f"{c['overhead_p50_ms']:.2f} ms", c["overhead_p50_ms"] <= 1)
            )
    if t := results.get("throughput"):
        rows = t["variants"]["stateless_sse"]
        ok = all(r["errors"] == 0 for r in rows.values() if isinstance(r, dict)) and rows["write"]["lost_writes"] == 0
        detail = f"{rows['read']['errors'] + rows['write']['errors']} errors, {rows['write']['lost_writes']} lost"
        out.append(("HTTP 32 clients: no errors, no lost writes", detail, ok))
    if r := results.get("ratelimit"):
        for name, run in r["runs"].items():
            out.append(
                (
                    f"rate-limited bulk: 0 rate_limited results ({name})",
                    str(run["rate_limited_results"]),
                    run["rate_limited_results"] == 0,
                )
            )
            out.append(
                (
                    f"rate-limited bulk: ≥ 95 % of allowed rate ({name})",
                    f"{run['achieved_vs_allowed']:.1%}",
                    run["achieved_vs_allowed"] >= 0.95,
                )
            )
    if rem := results.get("remote"):
        for variant, r in rem["runs"].items():
            ok = r["errors"] == 0 and r["cross_user_responses"] == 0 and r["api_429s"] == 0
            ok = ok and r["users_within_limit"] == r["users"]
            detail = (
                f"{r['errors']} errors, {r['cross_user_responses']} foreign, {r['api_429s']} 429s, "
                f"max {r['max_api_requests_per_user_in_60s']}/60 s"
            )
            label = f"remote {r['users']}×{r['clients_per_user']} ({variant}): isolated, ≤ 120/min, no 429"
            out.append((label, detail, ok))
    if mem := results.get("memory"):
        out.append(
            (
                "memory: no growth 1k → last beyond noise",
                f"{mem['growth_1k_to_last_kib']} KiB",
                not mem["leak_suspected"],
            )
        )
    return out


# ---- comparison and output --------------------------------------------------------------------
def compare(now: dict[str, Metric], before: dict[str, Any]) -> list[tuple[str, float, float, float, bool]]:
    rows = []
    for key, (value, _unit, better) in now.items():
        old = before.get(key, {}).get("value") if isinstance(before.get(key), dict) else None
        if old is None or not isinstance(old, int | float) or better is None:
            continue
        delta = (0.0 if value == 0 else math.inf) if old == 0 else (value - old) / abs(old)
        worse = delta > REGRESSION if better == "lower" else delta < -REGRESSION
        if old == 0 and value == 0:
            worse = False
        rows.append((key, old, value, delta, worse))
    return rows


def _fmt(value: float) -> str:
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) >= 100):
        return f"{value:,.0f}"
    return f"{value:,.3g}" if abs(value) < 10 else f"{value:,.1f}"


def print_table(now: dict[str, Metric], previous: dict[str, Any]) -> list[tuple[str, float, float, float, bool]]:
    deltas = {k: (old, d, worse) for k, old, _v, d, worse in compare(now, previous)}
    width = max(len(k) for k in now) if now else 20
    print(f"\n{'metric':<{width}}  {'value':>12}  {'unit':<9}  {'previous':>10}  {'Δ':>8}")
    print("-" * (width + 48))
    for key, (value, unit, _better) in now.items():
        old, delta, worse = deltas.get(key, (None, None, False))
        prev = _fmt(old) if old is not None else ""
        d = "" if delta is None else ("∞" if math.isinf(delta) else f"{delta:+.1%}")
        flag = "  ◀ REGRESSION" if worse else ""
        print(f"{key:<{width}}  {_fmt(value):>12}  {unit:<9}  {prev:>10}  {d:>8}{flag}")
    return compare(now, previous)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="≈1-minute smoke run (results in bench/results/quick/)")
    parser.add_argument("--only", help=f"comma list of benches ({', '.join(BENCHES + OPTIONAL)})")
    parser.add_argument("--skip", help="comma list of benches to leave out")
    parser.add_argument("--out", type=Path, help="results directory (default bench/results[/quick])")
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--fail-on-regression", action="store_true", help="exit 1 when a metric regressed > 10 %%")
    args = parser.parse_args(argv)

    names = [n for n in (args.only.split(",") if args.only else BENCHES) if n]
    unknown = [n for n in names if n not in BENCHES + OPTIONAL]
    if unknown:
        parser.error(f"unknown bench(es) {', '.join(unknown)}")
    skip = set(args.skip.split(",")) if args.skip else set()
    names = [n for n in names if n not in skip]
    out_dir: Path = args.out or (RESULTS / "quick" if args.quick else RESULTS)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary_file = out_dir / "summary.json"
    previous: dict[str, Any] = {}
    previous_load: list[float] | None = None
    if summary_file.exists():
        try:
            old_summary = json.loads(summary_file.read_text(encoding="utf-8"))
        except ValueError:
            old_summary = {}
        previous = old_summary.get("metrics", {})
        previous_load = old_summary.get("load_avg_start_end")

    started = time.monotonic()
    load_start = os.getloadavg()[0]
    results: dict[str, dict[str, Any]] = {}
    timings: dict[str, float] = {}
    failures: dict[str, str] = {}
    # results of benches not run this time stay in the table (from their files), so a partial
    # run still compares the full picture
    for name in BENCHES + OPTIONAL:
        path = out_dir / f"{name}.json"
        if name not in names and path.exists():
            with contextlib.suppress(ValueError):
                results[name] = json.loads(path.read_text(encoding="utf-8"))
    for name in names:
        print(f"[{time.monotonic() - started:6.1f} s] {name} …", flush=True)
        t0 = time.monotonic()
        try:
            if name in SCRIPTS:
                data = SCRIPTS[name](args.quick, out_dir)
            else:
                data = _module_bench(name)(args.quick)
                (out_dir / f"{name}.json").write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
            results[name] = data
        except Exception as exc:
            failures[name] = f"{type(exc).__name__}: {exc}"[:600]
            print(f"  {name} failed: {failures[name]}", file=sys.stderr)
        timings[name] = round(time.monotonic() - t0, 1)
        print(f"  done in {timings[name]} s", flush=True)
    total = round(time.monotonic() - started, 1)
    load = [round(load_start, 2), round(os.getloadavg()[0], 2)]

    now = metrics(results)
    regressions = [r for r in print_table(now, previous) if r[4]]
    print("\nTargets")
    for label, value, ok in targets(results):
        print(f"  {'PASS' if ok else 'MISS'}  {label}: {value}")
    if failures:
        print("\nFailed benches")
        for name, why in failures.items():
            print(f"  {name}: {why}")
    if regressions:
        print(f"\n{len(regressions)} metric(s) regressed by more than {REGRESSION:.0%} against the previous run:")
        for key, old, value, delta, _ in regressions:
            print(f"  {key}: {_fmt(old)} → {_fmt(value)} ({'∞' if math.isinf(delta) else f'{delta:+.1%}'})")
    elif previous:
        print(f"\nNo regression over {REGRESSION:.0%} against the previous run.")
    cpus = os.cpu_count() or 1
    before = f" (previous run: {previous_load[0]} → {previous_load[1]})" if previous_load else ""
    print(f"Machine load (1-min average) at start → end: {load[0]} → {load[1]} on {cpus} CPUs{before}")
    if max(load) > cpus * 0.75:
        print("  the machine was busy: absolute timings are inflated; trust same-run ratios more")

    summary = {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "seconds": total,
        "bench_seconds": timings,
        "load_avg_start_end": load,
        "machine": machine(),
        "failures": failures,
        "metrics": {k: {"value": v, "unit": u, "better": b} for k, (v, u, b) in now.items()},
        "targets": [{"target": t, "value": v, "ok": ok} for t, v, ok in targets(results)],
    }
    summary_file.write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    if not args.no_plot:
        try:
            from bench_plot import plot

            png = plot(results, out_dir / "bench.png")
            print(f"\nplot: {png.relative_to(ROOT) if png.is_relative_to(ROOT) else png}")
        except ImportError as exc:
            print(f"\nplot skipped ({exc}); pip install -e '.[bench]'")
    print(f"results: {out_dir.relative_to(ROOT) if out_dir.is_relative_to(ROOT) else out_dir}/ — {total} s in all")
    return 1 if (args.fail_on_regression and regressions) or failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
