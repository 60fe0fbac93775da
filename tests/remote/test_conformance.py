"""The official MCP conformance suite against the multi-user server (two replicas behind nginx).

The suite cannot run OAuth for a server under test, nor pass a header, so the test signs a user in
through the real flow (`login`) and puts an nginx in front that adds `Authorization: Bearer <that
user's access token>` to every request and balances round robin over two replicas of its own; those
share the stack's Redis, keys, public URL and sandbox API, so everything behind the proxy is the
production path (nginx round robin → either replica → Redis → the sandbox as the dVersum API). The
two replicas also load `conformance_tools/` through `DVERSUM_EXTRA_MANIFESTS` (an operator setting):
the suite's probe tool `test_missing_capability`, which the product does not ship, declared with the
table's `needs_client` so the product's own capability check answers it.
Released suite 0.1.16 (the active server scenarios) and the 0.2.0 pre-release at --spec-version
2026-07-28, both from .cache/ (scripts/setup.d/conformance.sh). Scenarios that cannot apply to a
product server are in tests/remote/conformance-baseline-*.yml, each with its reason. The run fails
when a non-baselined check fails or warns, when a baselined check passes (stale), and when a baselined
entry was not run at all: the suite checks the first two itself (exit 1), `verdict` checks all three
again on its checks.json files.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import yaml

from tests.hardening.conftest import clean_env
from tests.remote.conftest import KEYS, SERVE, Stack, free_port, login, stop, wait_http

ROOT = Path(__file__).resolve().parents[2]
NODE = ROOT / ".cache/node22/node_modules/node/bin/node"
SUITES = {
    "0.1.16": (ROOT / ".cache/conformance-0.1.16", []),
    "0.2.0-alpha.12": (ROOT / ".cache/conformance-0.2.0-alpha.12", ["--spec-version", "2026-07-28"]),
}
NGINX = "/usr/sbin/nginx"
PROBES = Path(__file__).with_name("conformance_tools")
"""The suite's probe tools as an extra tool table (tests only; never shipped)."""


@pytest.fixture(scope="module")
def probe_replicas(stack: Stack) -> Iterator[list[int]]:
    """Two more replicas of the stack (same Redis, keys, public URL, API) that load the probe table."""
    env = clean_env(
        DVERSUM_REDIS_URL=stack.redis_url,
        DVERSUM_MCP_PUBLIC_URL=stack.base,
        DVERSUM_MCP_SECRET_KEYS=KEYS,
        DVERSUM_BASE_URL=stack.api_url,
        DVERSUM_EXTRA_MANIFESTS=str(PROBES),
    )
    ports = [free_port(), free_port()]
    procs = [
        subprocess.Popen(
            [*SERVE, "--port", str(port), "--toolsets", "all"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(stack.tmp / f"conformance-server{i}.log").open("wb"),
        )
        for i, port in enumerate(ports)
    ]
    try:
        for port, proc in zip(ports, procs, strict=True):
            wait_http(f"http://127.0.0.1:{port}/healthz", proc, 60)
        yield ports
    finally:
        for proc in procs:
            stop(proc)


@pytest.fixture(scope="module")
def bearer_proxy(stack: Stack, probe_replicas: list[int]) -> Iterator[str]:
    tokens = login(stack.base, stack.token_a)
    tmp = stack.tmp / "conformance-proxy"
    tmp.mkdir()
    port = free_port()
    upstreams = "\n".join(f"    server 127.0.0.1:{p};" for p in probe_replicas)
    conf = tmp / "nginx.conf"
    conf.write_text(f"""worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy; fastcgi_temp_path {tmp}/fcgi;
  uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
  upstream replicas {{
{upstreams}
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://replicas;
      proxy_http_version 1.1;
      proxy_set_header Host $http_host;
      proxy_set_header Authorization "Bearer {tokens.access}";
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_read_timeout 120s;
    }}
  }}
}}
""")
    conf.chmod(0o600)
    proc = subprocess.Popen(
        [NGINX, "-p", str(tmp), "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=(tmp / "stderr").open("wb"),
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc, 20)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        stop(proc)
        conf.unlink()


@pytest.mark.timeout(600)
@pytest.mark.parametrize("version", list(SUITES))
def test_conformance_suite(bearer_proxy: str, probe_replicas: list[int], version: str, tmp_path: Path) -> None:
    home, extra = SUITES[version]
    cli = home / "node_modules/@modelcontextprotocol/conformance/dist/index.js"
    if not NODE.exists() or not cli.exists():
        pytest.fail(f"conformance {version} or Node 22 missing: run scripts/setup.d/conformance.sh")
    baseline = Path(__file__).with_name(f"conformance-baseline-{version}.yml")
    run = subprocess.run(
        [
            str(NODE),
            str(cli),
            "server",
            "--url",
            bearer_proxy,
            "--suite",
            "all",
            *extra,
            "--expected-failures",
            str(baseline),
            "-o",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=540,
        cwd=tmp_path,
    )
    summary = [line for line in run.stdout.splitlines() if "✓" in line or "✗" in line or "Total" in line]
    assert run.returncode == 0, "\n".join([*summary, run.stderr[-2000:], *_failed_checks(tmp_path)])
    results = _results(tmp_path)
    assert len(results) >= MIN_SCENARIOS[version], sorted(results)
    assert verdict(results, _baseline(baseline)) == []
    if version == "0.2.0-alpha.12":  # the capability check of the product, not a baseline entry
        stateless = {c["id"]: c["status"] for c in results["server-stateless"]}
        assert stateless["sep-2575-server-rejects-undeclared-capability"] == "SUCCESS"
        assert stateless["sep-2575-missing-capability-http-400"] == "SUCCESS"
        # the audit side of the refusal: counted as refused, not as a crash
        metrics = "".join(httpx2.get(f"http://127.0.0.1:{p}/metrics", timeout=10).text for p in probe_replicas)
        assert 'dversum_mcp_tool_calls_total{outcome="refused",tool="test_missing_capability"}' in metrics
        assert 'outcome="crashed",tool="test_missing_capability"' not in metrics


MIN_SCENARIOS = {"0.1.16": 32, "0.2.0-alpha.12": 40}
"""Scenarios each run must have reported (all of `--suite all` at that version today)."""
_FAILED = ("FAILURE", "WARNING")


def _results(out: Path) -> dict[str, list[dict[str, Any]]]:
    """scenario → its checks, from the suite's `-o` directory (`server-<scenario>-<timestamp>/checks.json`)."""
    results: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(out.glob("server-*/checks.json")):
        scenario = re.sub(r"^server-(.*)-\d{4}-\d{2}-\d{2}T.*$", r"\1", path.parent.name)
        results[scenario] = json.loads(path.read_text())
    return results


def _baseline(path: Path) -> list[str]:
    entries = yaml.safe_load(path.read_text()).get("server") or []
    return [str(e) for e in entries]


def verdict(results: dict[str, list[dict[str, Any]]], baseline: list[str]) -> list[str]:
    """What is wrong with a run against its baseline (empty: nothing): a failing or warning check that
    is not baselined, a baselined check or scenario that passes (stale), a baselined entry never run."""
    problems = []
    whole = {e for e in baseline if ":" not in e}
    checks: dict[str, set[str]] = {}
    for entry in baseline:
        if ":" in entry:
            scenario, check = entry.split(":", 1)
            checks.setdefault(scenario, set()).add(check)
    for entry in sorted(whole | set(checks)):
        if entry not in results:
            problems.append(f"baselined scenario {entry} was not run")
    for scenario, found in results.items():
        failing = {c["id"] for c in found if c.get("status") in _FAILED}
        if scenario in whole:
            if not failing:
                problems.append(f"stale: scenario {scenario} passes; remove it from the baseline")
            continue
        expected = checks.get(scenario, set())
        problems += [f"unexpected failure: {scenario}:{c}" for c in sorted(failing - expected)]
        seen = {c["id"] for c in found}
        problems += [f"baselined check {scenario}:{c} was not run" for c in sorted(expected - seen)]
        passing = (expected & seen) - failing
        problems += [f"stale: {scenario}:{c} passes; remove it from the baseline" for c in sorted(passing)]
    return problems


def test_verdict_catches_stale_and_unexpected_entries() -> None:
    """The baseline comparison itself: each kind of drift is reported (no stack needed)."""
    ok, bad = {"status": "SUCCESS"}, {"status": "FAILURE"}
    results = {
        "a": [{"id": "x", **ok}, {"id": "y", **bad}],
        "b": [{"id": "z", **bad}],
        "c": [{"id": "w", **ok}],
    }
    assert verdict(results, ["a:y", "b"]) == []
    assert verdict(results, ["a:y", "b", "c"]) == ["stale: scenario c passes; remove it from the baseline"]
    assert verdict(results, ["a:x", "a:y", "b"]) == ["stale: a:x passes; remove it from the baseline"]
    assert verdict(results, ["a:y"]) == ["unexpected failure: b:z"]
    assert verdict(results, ["a:y", "b", "d", "c:v"]) == [
        "baselined scenario d was not run",
        "baselined check c:v was not run",
    ]
    assert verdict({**results, "a": [{"id": "x", **ok}, {"id": "y", "status": "WARNING"}]}, ["b"]) == [
        "unexpected failure: a:y"
    ]


def _failed_checks(out: Path) -> list[str]:
    lines = []
    for path in sorted(out.glob("*/checks.json")):
        for check in json.loads(path.read_text()):
            if check.get("status") not in ("SUCCESS", "INFO", "SKIPPED"):
                detail = check.get("errorMessage") or check.get("description") or ""
                lines.append(f"{path.parent.name}: {check.get('id')} {check.get('status')}: {str(detail)[:300]}")
    return lines
