"""deploy/nginx.conf as shipped: `nginx -t` and real traffic over TLS to the two replicas of the stack.

Only the site-specific values are swapped for loopback temp values (certificate, upstream addresses,
listen ports, pid and temp paths); every proxy directive is the file's own.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.remote.conftest import Stack, free_port, login, stop, wait_http

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    crt, pem = tmp / "fullchain.pem", tmp / "privkey.pem"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return crt, pem


def localized(tmp: Path, upstreams: list[int], http_port: int, https_port: int) -> tuple[Path, Path]:
    """The example with its site values swapped; fails if any value to swap is no longer in the file."""
    crt, key = _self_signed(tmp)
    text = EXAMPLE.read_text()
    swaps = {
        "server mcp1:8000": f"server 127.0.0.1:{upstreams[0]}",
        "server mcp2:8000": f"server 127.0.0.1:{upstreams[1]}",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen 443 ssl": f"listen 127.0.0.1:{https_port} ssl",
        "/etc/nginx/certs/fullchain.pem": str(crt),
        "/etc/nginx/certs/privkey.pem": str(key),
        "worker_processes auto;": f"worker_processes 1;\npid {tmp}/nginx.pid;\nerror_log {tmp}/error.log warn;",
        "http {": (
            f"http {{\n  client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy; fastcgi_temp_path {tmp}/fcgi;"
            f"\n  uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;"
        ),
    }
    for old, new in swaps.items():
        assert text.count(old) == 1, f"deploy/nginx.conf no longer has exactly one {old!r}"
        text = text.replace(old, new)
    conf = tmp / "nginx.conf"
    conf.write_text(text)
    return conf, crt


@contextlib.contextmanager
def running_example_proxy(stack: Stack, name: str) -> Iterator[tuple[str, Path, Path]]:
    """deploy/nginx.conf (site values swapped) in front of the stack's replicas: (https base, cert, conf)."""
    tmp = stack.tmp / name
    tmp.mkdir()
    https_port, http_port = free_port(), free_port()
    conf, crt = localized(tmp, stack.replicas, http_port, https_port)
    proc = subprocess.Popen(
        [NGINX, "-p", str(tmp), "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=(tmp / "stderr").open("wb"),
    )
    try:
        wait_http(f"http://127.0.0.1:{http_port}/", proc, 20)
        yield f"https://127.0.0.1:{https_port}", crt, conf
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def example_proxy(stack: Stack) -> Iterator[tuple[str, Path, Path]]:
    with running_example_proxy(stack, "deploy-nginx") as proxy:
        yield proxy


def test_the_example_config_passes_nginx_t(example_proxy: tuple[str, Path, Path]) -> None:
    _, _, conf = example_proxy
    checked = subprocess.run(
        [NGINX, "-t", "-p", str(conf.parent), "-c", str(conf)], capture_output=True, text=True, timeout=30
    )
    assert checked.returncode == 0, checked.stderr
    assert "syntax is ok" in checked.stderr and "test is successful" in checked.stderr


def test_the_example_proxy_terminates_tls_and_round_robins_without_stickiness(
    stack: Stack, example_proxy: tuple[str, Path, Path]
) -> None:
    url, crt, _ = example_proxy
    assert httpx2.get(url.replace("https://", "http://") + "/x", timeout=10).status_code == 400  # TLS port only
    tokens = login(stack.base, stack.token_a)
    with httpx2.Client(verify=str(crt), timeout=30) as http:
        unauthenticated = http.post(url + "/mcp", json={})
        assert unauthenticated.status_code == 401
        assert "resource_metadata=" in unauthenticated.headers["www-authenticate"]
        assert http.get(url + "/metrics").status_code == 404  # not through the public proxy
        replicas = []
        for n in range(4):
            rid = uuid.uuid4().hex
            response = http.post(
                url + "/mcp",
                headers={
                    "Authorization": f"Bearer {tokens.access}",
                    "Accept": "application/json, text/event-stream",
                    "MCP-Protocol-Version": "2026-07-28",
                    "Mcp-Method": "tools/call",
                    "Mcp-Name": "get_current_user",
                    "X-Request-Id": rid,
                },
                json={
                    "jsonrpc": "2.0",
                    "id": n,
                    "method": "tools/call",
                    "params": {
                        "name": "get_current_user",
                        "arguments": {},
                        "_meta": {
                            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                            "io.modelcontextprotocol/clientCapabilities": {},
                        },
                    },
                },
            )
            assert response.status_code == 200, response.text
            assert response.headers["x-request-id"] == rid
            text = response.text
            body = json.loads(text if text.lstrip().startswith("{") else text.split("data:", 1)[1].split("\n\n")[0])
            assert body["result"]["isError"] is False, body
            replicas.append(stack.replica_of(rid))
    assert replicas in ([0, 1, 0, 1], [1, 0, 1, 0]), replicas
