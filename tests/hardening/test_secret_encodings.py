"""Secrets in every encoding and from every origin: the hostile API echoes the token JSON-escaped,
percent-encoded, base64 / base64url at each alignment, hex, HTML-escaped, and in response
headers (a non-JSON Content-Type quoted in an error, a download's Content-Disposition filename
and Content-Type, which become `filename`, `mime_type` and the resource URI). Nothing of it may
reach a result, an error, a log line or a notification, in-process, over HTTP, over stdio or
through `dversum-mcp call`. A token that is not a printable ASCII word is refused at start-up.
"""

from __future__ import annotations

import base64
import json
import logging
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from dversum_mcp.api.client import ApiClient
from dversum_mcp.api.limiter import RateLimiter
from dversum_mcp.config import Secret, Settings
from dversum_mcp.logs import quiet_libraries
from dversum_mcp.server.handlers import ServerState, build_server
from dversum_mcp.server.scrub import Scrubber
from dversum_mcp.tools.registry import Registry, Selection
from dversum_mcp.transports import http as transports
from tests.dversum_mcp.test_http_transports import _serve
from tests.hardening.conftest import PYTHON, SUMMARY, clean_env
from tests.hardening.rawstdio import RawStdio
from tests.secret_guard import GUARD

TOKEN = "dvk_live_Encoded9Leak_7c6b5a4f3e2d1c0b"
RAW = TOKEN.encode()


def _b64(prefix: bytes, alphabet: str = "std") -> str:
    text = base64.b64encode(prefix + RAW + b"!?").decode()
    return text.replace("+", "-").replace("/", "_") if alphabet == "url" else text


def _pct_all(text: str, upper: bool = True) -> str:
    return "".join(f"%{b:02X}" if upper else f"%{b:02x}" for b in text.encode())


# Each encoded echo the fake API sends, by name; the values are what appears inside a JSON string.
ENCODED: dict[str, str] = {
    "json \\u escapes": "".join(f"\\u{ord(c):04x}" for c in TOKEN),
    "json mixed escapes": "\\u0064vk_live" + TOKEN[len("dvk_live") :],
    "percent reserved": quote("token=" + TOKEN, safe=""),
    "percent every byte": _pct_all(TOKEN),
    "percent lowercase": _pct_all(TOKEN, upper=False),
    "percent twice": quote(_pct_all(TOKEN), safe=""),
    "base64 align 0": _b64(b""),
    "base64 align 1": _b64(b"A"),
    "base64 align 2": _b64(b"AB"),
    "base64url align 1": _b64(b"\xff", "url"),
    "base64url align 2": _b64(b"\xfb\xff", "url"),
    "hex": RAW.hex(),
    "html entities": "".join(f"&#{ord(c)};" for c in TOKEN),
    "escaped twice": "".join(f"\\\\u{ord(c):04x}" for c in TOKEN),
}
WIRE_FORMS = (
    [v for k, v in ENCODED.items() if "escape" not in k]
    + [
        base64.b64encode(RAW).decode()[:-4],  # the stable part of each alignment
        base64.b64encode(b"A" + RAW).decode()[4:-4],
        base64.b64encode(b"AB" + RAW).decode()[4:-4],
    ]
)


class EncodingApi:
    """An API that echoes the token in every encoding and every header it can."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                done = "startup" if message["type"] == "lifespan.startup" else "shutdown"
                await send({"type": f"lifespan.{done}.complete"})
                if done == "shutdown":
                    return
        while (await receive()).get("more_body"):
            pass
        path, host = scope["path"], dict(scope["headers"]).get(b"host", b"").decode()
        status, ctype, body, headers = 200, "application/json", b"", []
        encoded_obj = "{" + ", ".join(f'"{k}": "{v}"' for k, v in ENCODED.items()) + "}"
        if path.endswith("/users/me"):  # 200 JSON, every encoding as a value
            body = encoded_obj.encode()
        elif path.endswith("/clients") and scope["method"] == "GET":  # every encoding as a key and in a list
            body = ('{"clients": [' + encoded_obj + "], " + encoded_obj[1:-1] + ', "total": 1}').encode()
        elif path.endswith("/clients"):  # 422 error: message and field JSON-escaped
            status = 422
            body = ('{"error": "validation_failed", "message": "' + ENCODED["json \\u escapes"] + '", "field": "'
                    + ENCODED["percent every byte"] + '"}').encode()  # fmt: skip
        elif "/clients/" in path:  # 404 with a non-JSON content type that carries the token
            status, ctype, body = 404, f"text/x-{TOKEN}; charset=utf-8", b"nope"
        elif path.endswith("/projects"):  # 200 with a non-JSON content type (quoted in the error)
            ctype, body = f"application/x-{TOKEN}", b"<projects/>"
        elif path.endswith("/pdf"):  # binary: filename and type from headers, token in the bytes too
            ctype = f"application/x-{TOKEN}"
            headers = [(b"content-disposition", f'attachment; filename="{TOKEN}.pdf"'.encode())]
            body = b"%PDF-1.7 " + RAW + b" /" + quote(TOKEN, safe="").encode() + b" " + _pct_all(TOKEN).encode()
        elif path.endswith("/download"):
            body = json.dumps({"url": f"http://{host}/blob/f1"}).encode()
        elif "/storage/files/" in path:
            body = json.dumps({"id": "f1", "name": f"{TOKEN}.txt", "content_type": f"text/x-{TOKEN}"}).encode()
        elif "/pages/" in path:  # an error message a resource read quotes in its JSON-RPC error
            status = 500
            body = ('{"message": "' + ENCODED["json \\u escapes"] + " " + ENCODED["base64 align 1"] + '"}').encode()
        elif path.startswith("/blob/"):
            ctype, body = f"text/x-{TOKEN}", b"file: " + RAW
        raw_headers = [(b"content-type", ctype.encode()), *headers]
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": body})


CALLS: list[tuple[str, dict[str, Any]]] = [
    ("get_current_user", {}),
    ("list_clients", {}),
    ("create_client", {"name": "Kodiert GmbH"}),
    ("get_client", {"client_id": "abc"}),
    ("list_projects", {}),
    ("download_invoice_pdf", {"invoice_id": "inv1"}),
    ("download_file", {"file_id": "f1"}),
]


def leaks(text: str) -> list[str]:
    """Which forms of the token `text` holds: raw, any encoding the API sent, or what the guard knows."""
    found = [name for name, form in ENCODED.items() if form in text and "escape" not in name]
    found += [f"wire form {form[:8]}…" for form in WIRE_FORMS if form in text]
    if TOKEN in text:
        found.append("raw")
    for result_text in (text,):
        try:
            decoded = json.loads(result_text)
        except ValueError:
            continue
        flat = json.dumps(decoded, ensure_ascii=False)
        if TOKEN in flat:
            found.append("raw after decoding")
    return found + GUARD.find(text)


def _blobs(payload: Any) -> list[bytes]:
    out = []
    for item in (payload.get("content") or []) if isinstance(payload, dict) else []:
        blob = (item.get("resource") or {}).get("blob") if isinstance(item, dict) else None
        if blob:
            out.append(base64.b64decode(blob))
    return out


def _check(transcripts: list[str]) -> None:
    for text in transcripts:
        assert leaks(text) == [], (leaks(text), text[:300])
        for blob in _blobs(json.loads(text)):
            assert RAW not in blob and leaks(blob.decode("latin-1")) == [], blob[:200]


def _settings(base: str) -> Settings:
    return Settings(token=Secret(TOKEN), base_url=f"{base}/api/v1", confirm=False, call_timeout_s=10)


def _state(settings: Settings) -> ServerState:
    client = ApiClient(base_url=settings.base_url, token=TOKEN, limiter=RateLimiter(10_000, 60), max_retries=0)
    return ServerState(settings, Registry(), client, Selection(toolsets=("all",)))


@pytest.mark.anyio
async def test_encoded_and_header_echoes_stay_out_of_results(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    quiet_libraries(logging.DEBUG)  # as `dversum-mcp` configures logging at DVERSUM_LOG_LEVEL=DEBUG
    with _serve(EncodingApi()) as base:
        state = _state(_settings(base))
        transcripts = []
        async with state.client, Client(build_server(state), mode="legacy") as mcp:
            for name, args in CALLS:
                result = await mcp.call_tool(name, args)
                transcripts.append(result.model_dump_json(by_alias=True))
            with pytest.raises(MCPError) as failed:  # a JSON-RPC error quoting the API's message
                await mcp.read_resource("dversum://pages/pg1")
            assert "Could not read" in failed.value.error.message
            errors = [failed.value.error.model_dump_json()]
            assert not (await mcp.call_tool("get_current_user", {})).is_error  # still serving
    records = [r.getMessage() for r in caplog.records if r.name.startswith("dversum_mcp")]
    assert [leaks(e) for e in errors if leaks(e)] == [], errors
    _check(transcripts)
    assert [leaks(r) for r in records if leaks(r)] == []
    SUMMARY["secret encodings in-process"] = (
        f"{len(ENCODED)} encodings + 5 header/filename/URI surfaces over {len(CALLS)} tools: 0 leaks"
    )


@pytest.mark.anyio
async def test_encoded_echoes_stay_out_over_streamable_http() -> None:
    with _serve(EncodingApi()) as base:
        state = _state(_settings(base))
        app = transports.http_app(build_server(state), host="127.0.0.1")
        with _serve(app) as mcp_base:
            async with state.client, Client(f"{mcp_base}/mcp", mode="legacy") as mcp:
                transcripts = [(await mcp.call_tool(name, args)).model_dump_json(by_alias=True) for name, args in CALLS]
    _check(transcripts)


def test_encoded_echoes_stay_out_of_stdio_and_logs(tmp_path: Path) -> None:
    with _serve(EncodingApi()) as base:
        proc = RawStdio(
            tmp_path,
            DVERSUM_API_TOKEN=TOKEN,
            DVERSUM_BASE_URL=f"{base}/api/v1",
            DVERSUM_LOG_LEVEL="DEBUG",
            DVERSUM_TOOLSETS="all",
        )
        try:
            proc.initialize()
            for n, (name, args) in enumerate(CALLS):
                proc.send(
                    {"jsonrpc": "2.0", "id": n, "method": "tools/call", "params": {"name": name, "arguments": args}}
                )
                proc.response(n, timeout=60)
            proc.ping("end")
        finally:
            assert proc.close() == 0
    results = [json.dumps(json.loads(line)["result"]) for line in proc.lines if b'"result"' in line]
    _check(results)
    stderr = proc.stderr_path.read_text()
    assert leaks(stderr) == [], leaks(stderr)


@pytest.mark.parametrize(("name", "args"), CALLS[2:6], ids=[c[0] for c in CALLS[2:6]])
def test_encoded_echoes_stay_out_of_dversum_mcp_call(tmp_path: Path, name: str, args: dict[str, Any]) -> None:
    with _serve(EncodingApi()) as base:
        done = subprocess.run(
            [PYTHON, "-m", "dversum_mcp.cli", "call", name, json.dumps(args)],
            capture_output=True,
            env=clean_env(DVERSUM_API_TOKEN=TOKEN, DVERSUM_BASE_URL=f"{base}/api/v1", DVERSUM_NO_CONFIRM="1"),
            cwd=tmp_path,
            timeout=60,
            check=False,
        )
    out, err = done.stdout.decode(), done.stderr.decode()
    assert done.returncode in (0, 1) and (out or err), err[-2000:]
    for text in (out, err):
        assert leaks(text) == [], (leaks(text), text[:500])
    if out.strip():
        for blob in _blobs(json.loads(out)):
            assert RAW not in blob


def test_scrubber_finds_every_form_inside_longer_text() -> None:
    scrub = Scrubber([TOKEN])
    for name, form in ENCODED.items():
        decoded = json.loads(f'"{form}"')  # the string as the server holds it after JSON decoding
        for text in (decoded, f"vorher {decoded} nachher", f"x{decoded}"):
            clean = scrub.text(text)
            assert leaks(clean) == [] and TOKEN not in clean, (name, clean)
    assert scrub.text("harmlos 19 % & 100 \\ Text") == "harmlos 19 % & 100 \\ Text"
    blob = b"\x00\x01" + RAW + b"\xff" + base64.b64encode(b"z" + RAW)
    assert RAW not in scrub.data(blob) and base64.b64encode(b"z" + RAW) not in scrub.data(blob)


@pytest.mark.parametrize(
    "token",
    [
        "dvk_live_…  (leave out …)",
        "dvk_live_abc def",
        "dvk_live_tab\there",
        "dvk_live_ümlaut_0123456789",
        "dvk_live_esc\x1b[31m_0123",
    ],
    ids=["placeholder", "space", "tab", "non-ascii", "control"],
)
@pytest.mark.parametrize("command", [[], ["call", "get_current_user"]], ids=["serve", "call"])
def test_unusable_token_is_refused_at_start_up(tmp_path: Path, token: str, command: list[str]) -> None:
    done = subprocess.run(
        [PYTHON, "-m", "dversum_mcp.cli", *command],
        input=b"",
        capture_output=True,
        env=clean_env(DVERSUM_API_TOKEN=token, DVERSUM_BASE_URL="http://127.0.0.1:9/api/v1"),
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    err = done.stderr.decode(errors="replace")
    assert done.returncode == 2 and "DVERSUM_API_TOKEN" in err, (done.returncode, err[-1500:])
    assert "Traceback" not in err and done.stdout == b""
