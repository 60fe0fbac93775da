"""bench/results/bench.png: one figure with six panels from the suite's results (matplotlib, Agg).

Cold start vs the floor, per-call latency vs the API layer, HTTP throughput, Markdown →
ProseMirror time against document size, the rate-limited run against the allowed rate,
and RSS against calls. Panels whose bench did not run say so instead of failing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["plot"]

BLUE, ORANGE, GREY, GREEN, RED = "#3b6fb6", "#e08a2c", "#9a9a9a", "#4c9a5b", "#c0504d"


def _missing(ax: Any, what: str) -> None:
    ax.text(0.5, 0.5, f"{what}: not run", ha="center", va="center", transform=ax.transAxes, color=GREY)
    ax.set_xticks([])
    ax.set_yticks([])


def _startup(ax: Any, s: dict[str, Any] | None) -> None:
    if not s:
        return _missing(ax, "startup")
    v = s["variants"]
    names = [
        ("floor", "floor\n(SDK, 1 tool)"),
        ("real", "token set"),
        ("real_nocache", "token set,\nno cache"),
        ("sandbox", "sandbox"),
        ("sandbox_seed", "sandbox,\nfirst start"),
    ]
    names = [(k, label) for k, label in names if k in v]
    values = [v[k]["tools_list_ms"]["p50"] for k, _ in names]
    colors = [GREY] + [BLUE if not k.startswith("sandbox") else ORANGE for k, _ in names[1:]]
    bars = ax.bar([label for _, label in names], values, color=colors)
    floor = v["floor"]["tools_list_ms"]["p50"]
    ax.axhline(floor * 1.3, color=RED, linestyle="--", linewidth=1, label="target 1.3× floor")
    for bar, (k, _) in zip(bars, names, strict=True):
        ratio = "" if k == "floor" else f"\n{v[k]['ratio_vs_floor']:.2f}×"
        where = (bar.get_x() + bar.get_width() / 2, bar.get_height())
        ax.annotate(f"{bar.get_height():.0f}{ratio}", where, ha="center", va="bottom", fontsize=7)
    ax.set_ylabel("ms to tools/list answered (median)")
    ax.set_title(f"Cold start, spawn → initialize → tools/list (n={s['runs']})", fontsize=9)
    ax.tick_params(axis="x", labelsize=7)
    ax.legend(fontsize=7, loc="upper left")
    ax.margins(y=0.2)


def _overhead(ax: Any, o: dict[str, Any] | None) -> None:
    if not o:
        return _missing(ax, "overhead")
    cases = list(o["cases"])
    paths = [
        ("direct_ms", "API layer, in process", GREY),
        ("pipe_ms", "API layer, own process", GREEN),
        ("mcp_ms", "dversum-mcp over stdio", BLUE),
    ]
    width = 0.25
    for i, (key, label, color) in enumerate(paths):
        xs = [c + (i - 1) * width for c in range(len(cases))]
        p50 = [o["cases"][case][key]["p50"] for case in cases]
        p99 = [o["cases"][case][key]["p99"] for case in cases]
        ax.bar(xs, p50, width, color=color, label=f"{label} (p50)")
        ax.scatter(xs, p99, marker="_", s=200, color="black", zorder=3, label="p99" if i == 2 else None)
        for x, y in zip(xs, p50, strict=True):
            ax.annotate(f"{y:.2f}", (x, y), ha="center", va="bottom", fontsize=7)
    floor = o["floor_echo_ms"]["p50"]
    ax.axhline(floor, color=ORANGE, linestyle=":", linewidth=1.2, label=f"floor: SDK echo over stdio ({floor:.2f})")
    if "floor_echo_asyncio_pipes_ms" in o:
        pipes = o["floor_echo_asyncio_pipes_ms"]["p50"]
        ax.axhline(pipes, color=RED, linestyle=":", linewidth=1.2, label=f"same, asyncio pipes (what-if, {pipes:.2f})")
    ax.set_xticks(range(len(cases)), cases)
    ax.set_ylabel("ms per call")
    added = ", ".join(f"{c} +{o['cases'][c]['overhead_p50_ms']:.2f}" for c in cases)
    ax.set_title(f"Per call, sequential (MCP adds p50: {added} ms)", fontsize=9)
    top = max(o["cases"][case][key]["p99"] for case in cases for key, _, _ in paths)
    ax.set_ylim(0, top * 1.7)
    ax.legend(fontsize=6, loc="upper left")


def _throughput(ax: Any, t: dict[str, Any] | None) -> None:
    if not t:
        return _missing(ax, "throughput")
    variants = list(t["variants"])
    kinds = ["read", "write"]
    width = 0.38
    colors = {"stateless_sse": BLUE, "stateless_json": GREEN}
    for i, variant in enumerate(variants):
        rows = t["variants"][variant]
        xs = [k + (i - (len(variants) - 1) / 2) * width for k in range(len(kinds))]
        values = [rows[k]["calls_per_s"] for k in kinds]
        label = "stateless, SSE answers (CLI)" if variant == "stateless_sse" else "stateless, --json-response (CLI)"
        bars = ax.bar(xs, values, width, color=colors.get(variant, GREY), label=label)
        for bar, k in zip(bars, kinds, strict=True):
            text = f"{bar.get_height():.0f}/s\np99 {rows[k]['latency_ms']['p99']:.0f} ms"
            where = (bar.get_x() + bar.get_width() / 2, bar.get_height())
            ax.annotate(text, where, ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(kinds)), ["list_clients (read)", "create_task (write)"])
    ax.set_ylabel("calls/s")
    ax.set_title(f"Streamable HTTP, {t['clients']} concurrent clients, sandbox", fontsize=9)
    ax.legend(fontsize=7, loc="upper right")
    ax.margins(y=0.3)


def _markdown(ax: Any, md: dict[str, Any] | None) -> None:
    if not md or "sizes" not in md:
        return _missing(ax, "markdown")
    sizes = md["sizes"]
    kb = [r["bytes"] / 1024 for r in sizes]
    ax.loglog(kb, [r["ours_ms"] for r in sizes], "o-", color=BLUE, label="Markdown → ProseMirror (ours)")
    ax.loglog(kb, [r["floor_ms"] for r in sizes], "s--", color=GREY, label="markdown-it-py → HTML (floor)")
    lo, hi = kb[0], kb[-1]
    base = sizes[0]["ours_ms"]
    ax.loglog([lo, hi], [base, base * hi / lo], ":", color=ORANGE, linewidth=1, label="linear growth")
    summ = md.get("summary", {})
    title = "Markdown conversion time vs size"
    if "docs_per_s" in summ:
        title += f" ({summ['docs_per_s']:.0f} docs/s, {summ['mb_per_s']:.2f} MB/s; {summ['ratio']:.2f}× floor)"
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("document size (KiB)")
    ax.set_ylabel("ms per document")
    ax.legend(fontsize=7)


def _ratelimit(ax: Any, r: dict[str, Any] | None) -> None:
    if not r:
        return _missing(ax, "ratelimit")
    for name, run in r["runs"].items():
        done = run.get("completed_at_s")
        if not done:
            continue
        label = f"{name.replace('_', ' ')}: {run['achieved_rate_per_s']:.0f}/s, {run['sandbox_429s']} × 429"
        ax.plot(done, range(1, len(done) + 1), label=label, linewidth=1.2)
    run = next(iter(r["runs"].values()))
    limit, window, calls = run["limit"], run["window_s"], run["calls"]
    steps_t, steps_n = [0.0], [min(limit, calls)]
    while steps_n[-1] < calls:
        steps_t.append(steps_t[-1] + window)
        steps_n.append(min(calls, steps_n[-1] + limit))
    ax.step(steps_t, steps_n, where="post", color=RED, linestyle="--", linewidth=1, label="most the limit allows")
    ax.set_xlabel("seconds")
    ax.set_ylabel("tool calls completed")
    ax.set_title(f"{calls} calls at {limit} per {window:g} s (120/min scaled 50×)", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")


def _memory(ax: Any, m: dict[str, Any] | None) -> None:
    if not m:
        return _missing(ax, "memory")
    xs = [0] + [s["calls"] for s in m["samples"]]
    rss = [m["idle_kib"]["VmRSS"] / 1024] + [s["VmRSS"] / 1024 for s in m["samples"]]
    ax.plot(xs, rss, "o-", color=ORANGE, markersize=3, label="sandbox mode (VmRSS)")
    ax.axhline(m["idle_real_api_kib"]["VmRSS"] / 1024, color=BLUE, linestyle="--", label="token set, idle")
    ax.set_xlabel("tool calls")
    ax.set_ylabel("MiB")
    ax.set_ylim(0, max(rss) * 1.2)
    ax.set_title(f"Server RSS: +{m['growth_1k_to_last_kib']} KiB from 1,000 to {xs[-1]:,} calls", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")


def plot(results: dict[str, dict[str, Any]], target: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(17, 9.5))
    _startup(axes[0][0], results.get("startup"))
    _overhead(axes[0][1], results.get("overhead"))
    _throughput(axes[0][2], results.get("throughput"))
    _markdown(axes[1][0], results.get("markdown"))
    _ratelimit(axes[1][1], results.get("ratelimit"))
    _memory(axes[1][2], results.get("memory"))
    machine = next((r["machine"] for r in results.values() if isinstance(r.get("machine"), dict)), {})
    fig.suptitle(
        f"dversum-mcp benchmarks — Python {machine.get('python', '?')}, {machine.get('cpus', '?')} CPUs, "
        f"MCP SDK {machine.get('mcp_sdk', '?')}",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(target, dpi=110)
    plt.close(fig)
    return target
