"""The official MCP conformance suite against the multi-user server (two replicas behind nginx).

The suite cannot run OAuth for a server under test, nor pass a header, so the test signs a user in
through the real flow (`login`) and puts a second nginx in front of the stack's balancer that adds
`Authorization: Bearer <that user's access token>` to every request; everything behind it is the
production path (nginx round robin → either replica → Redis → the sandbox as the dVersum API).
Released suite 0.1.16 (the active server scenarios) and the 0.2.0 pre-release at --spec-version
2026-07-28, both from .cache/ (scripts/setup.d/conformance.sh). Scenarios that cannot apply to a
product server are in tests/remote/conformance-baseline-*.yml, each with its reason.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.remote.conftest import Stack, _stop, free_port, login, wait_http

ROOT = Path(__file__).resolve().parents[2]
NODE = ROOT / ".cache/node22/node_modules/node/bin/node"
SUITES = {
    "0.1.16": (ROOT / ".cache/conformance-0.1.16", []),
    "0.2.0-alpha.12": (ROOT / ".cache/conformance-0.2.0-alpha.12", ["--spec-version", "2026-07-28"]),
}
NGINX = "/usr/sbin/nginx"


@pytest.fixture(scope="module")
def bearer_proxy(stack: Stack) -> Iterator[str]:
    tokens = login(stack.base, stack.token_a)
    tmp = stack.tmp / "conformance-proxy"
    tmp.mkdir()
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(f"""worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy; fastcgi_temp_path {tmp}/fcgi;
  uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass {stack.base};
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
        _stop(proc)
        conf.unlink()


@pytest.mark.timeout(600)
@pytest.mark.parametrize("version", list(SUITES))
def test_conformance_suite(bearer_proxy: str, version: str, tmp_path: Path) -> None:
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


def _failed_checks(out: Path) -> list[str]:
    lines = []
    for path in sorted(out.glob("*/checks.json")):
        for check in json.loads(path.read_text()):
            if check.get("status") not in ("SUCCESS", "INFO", "SKIPPED"):
                detail = check.get("errorMessage") or check.get("description") or ""
                lines.append(f"{path.parent.name}: {check.get('id')} {check.get('status')}: {str(detail)[:300]}")
    return lines
