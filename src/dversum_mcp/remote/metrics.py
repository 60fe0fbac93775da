"""Prometheus metrics of the remote server (one registry per process; `/metrics` serves it).

With several worker processes each serves its own numbers; scrape every replica/worker (or
set `PROMETHEUS_MULTIPROC_DIR`, which prometheus-client honours) and sum.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["Metrics"]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.calls = Counter("dversum_mcp_tool_calls", "Tool calls", ["tool", "outcome"], registry=self.registry)
        self.errors = Counter(
            "dversum_mcp_tool_errors", "Tool calls that ended in an error", ["tool"], registry=self.registry
        )
        self.latency = Histogram(
            "dversum_mcp_tool_call_seconds",
            "Tool call latency",
            ["tool"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.rate_limit_waits = Counter(
            "dversum_mcp_rate_limit_waits",
            "Times a call waited for the shared per-token rate limit",
            registry=self.registry,
        )
        self.rate_limit_wait_seconds = Counter(
            "dversum_mcp_rate_limit_wait_seconds", "Seconds spent waiting for the rate limit", registry=self.registry
        )
        self.active_users = Gauge(
            "dversum_mcp_active_users", "Users with a call in the last 5 minutes (this process)", registry=self.registry
        )
        self.http_requests = Counter(
            "dversum_mcp_http_requests", "HTTP requests", ["path", "status"], registry=self.registry
        )
        self.in_flight = Gauge("dversum_mcp_in_flight_requests", "HTTP requests being served", registry=self.registry)
