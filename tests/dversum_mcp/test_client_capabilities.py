"""Client capabilities a call needs (`needs_client` in the tool table), with the SDK's own client over
real HTTP on loopback and over stdio, at a handshake-era protocol and at 2026-07-28.

- The generic check, on tools of an extra tool table (`DVERSUM_EXTRA_MANIFESTS`): a tool that needs
  `sampling`, and an argument that needs `elicitation` only when given. A client without the
  capability gets -32021 with `data.requiredCapabilities` (HTTP 400) on 2026-07-28, an isError
  `missing_client_capability` before; nothing reaches the API. A client with it is served.
- The product's use: `save_as` (download_file, download_invoice_pdf) and upload_file's `path` need the
  client's roots when the server has no folders of its own; on 2026-07-28 the folders come with an
  InputRequiredResult round trip. `DVERSUM_FILE_ROOTS` stands in for them.
"""

from __future__ import annotations

import base64
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import mcp_types as types
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from dversum_mcp.config import Secret, Settings
from dversum_mcp.server.handlers import ServerState, build_server
from dversum_mcp.tools.manifest import ManifestError, load_manifest
from dversum_mcp.tools.registry import Registry, Selection
from dversum_mcp.transports import http as transports
from tests.dversum_mcp.conftest import Harness, structured
from tests.dversum_mcp.test_http_transports import _serve

pytestmark = pytest.mark.anyio
MODES = ("legacy", "2026-07-28")
PROBES = """
[toolset]
name = "probes"
title = "Probes"
description = "Tools that need client capabilities."
order = 901

[[tool]]
name = "probe_needs_sampling"
title = "Probe: sampling"
description = "Needs the client's sampling capability; returns the current user."
method = "GET"
path = "/me"
source = "inferred"
needs_client = ["sampling"]
annotations = { readOnlyHint = true, destructiveHint = false, idempotentHint = true, openWorldHint = true }

[[tool]]
name = "probe_param_needs_elicitation"
title = "Probe: elicitation argument"
description = "Its argument ask needs elicitation; returns the current user."
method = "GET"
path = "/me"
source = "inferred"
annotations = { readOnlyHint = true, destructiveHint = false, idempotentHint = true, openWorldHint = true }
params = [ { name = "ask", type = "string", needs_client = ["elicitation"] } ]

[[tool]]
name = "probe_confirmed_pdf"
title = "Probe: confirmed download"
description = "An invoice PDF saved only after a confirmation (a question and the roots in one round)."
method = "GET"
path = "/invoices/{id}/pdf"
path_params = { id = "invoice_id" }
source = "inferred"
response = "binary"
confirm = "Save the PDF of invoice {number}?"
annotations = { readOnlyHint = true, destructiveHint = false, idempotentHint = true, openWorldHint = true }
"""


@pytest.fixture(scope="module")
def probes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("probes")
    (folder / "probes.toml").write_text(PROBES)
    return folder


@pytest.fixture(scope="module")
def probe_registry(probes: Path) -> Registry:
    return Registry(extra_manifests=(probes,))


async def _sampling(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
    raise AssertionError("the probe never samples")


def _roots_of(folder: Path) -> Any:
    async def roots(context: Any) -> types.ListRootsResult:
        return types.ListRootsResult(roots=[types.Root(uri=folder.as_uri(), name="out")])

    return roots


class Statuses:
    """The HTTP status of every response the client received."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    async def __call__(self, response: httpx2.Response) -> None:
        self.seen.append(response.status_code)


@asynccontextmanager
async def _http_client(base: str, mode: str, statuses: Statuses, **kw: Any) -> AsyncIterator[Client]:
    http = httpx2.AsyncClient(timeout=20, event_hooks={"response": [statuses]})
    async with http, Client(streamable_http_client(f"{base}/mcp", http_client=http), mode=mode, **kw) as client:  # type: ignore[arg-type]
        yield client


@asynccontextmanager
async def _http_server(harness: Harness, registry: Registry, settings: Settings | None = None) -> AsyncIterator[str]:
    state = ServerState(
        settings or Settings(token=Secret(""), confirm=False),
        registry,
        harness.api_client(),
        Selection(toolsets=("all",), sandbox=True),
    )
    with _serve(transports.http_app(build_server(state), host="127.0.0.1")) as base:
        yield base


def _stdio(tmp_path: Path, **env: str) -> StdioServerParameters:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DVERSUM_")}
    clean.update(DVERSUM_SANDBOX_DIR=str(tmp_path / "sandbox"), DVERSUM_TOOLSETS="all", DVERSUM_NO_CONFIRM="1", **env)
    return StdioServerParameters(command=sys.executable, args=["-m", "dversum_mcp.cli"], env=clean, cwd=str(tmp_path))


def _refused_legacy(result: types.CallToolResult, capability: str, field: str | None) -> dict[str, Any]:
    data = structured(result)
    assert result.is_error and data["error"] == "missing_client_capability", data
    assert capability in data["message"] and data.get("field") == field and "To go on" in data["hint"], data
    return data


async def _refused_modern(call: Any, capability: str) -> MCPError:
    with pytest.raises(MCPError) as info:
        await call
    assert info.value.code == types.MISSING_REQUIRED_CLIENT_CAPABILITY == -32021
    assert info.value.data == {"requiredCapabilities": {capability: {}}}
    assert capability in info.value.message
    return info.value


# ---- the generic check --------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
async def test_a_tool_that_needs_a_capability_over_http(harness: Harness, probe_registry: Registry, mode: str) -> None:
    async with _http_server(harness, probe_registry) as base:
        statuses = Statuses()
        async with _http_client(base, mode, statuses) as client:
            sent = len(harness.requests)
            if mode == "legacy":
                _refused_legacy(await client.call_tool("probe_needs_sampling", {}), "sampling", None)
                _refused_legacy(
                    await client.call_tool("probe_param_needs_elicitation", {"ask": "x"}), "elicitation", "ask"
                )
            else:
                await _refused_modern(client.call_tool("probe_needs_sampling", {}), "sampling")
                assert statuses.seen[-1] == 400
                await _refused_modern(client.call_tool("probe_param_needs_elicitation", {"ask": "x"}), "elicitation")
                assert statuses.seen[-1] == 400
            assert len(harness.requests) == sent, "a refused call reached the API"
            # the argument needs the capability only when it is given
            plain = await client.call_tool("probe_param_needs_elicitation", {})
            assert structured(plain)["slug"] == "anna"
        async with _http_client(base, mode, Statuses(), sampling_callback=_sampling) as client:
            served = await client.call_tool("probe_needs_sampling", {})
            assert not served.is_error and structured(served)["slug"] == "anna"


@pytest.mark.parametrize("mode", MODES)
async def test_a_tool_that_needs_a_capability_over_stdio(tmp_path: Path, probes: Path, mode: str) -> None:
    server = _stdio(tmp_path, DVERSUM_EXTRA_MANIFESTS=str(probes))
    async with Client(server, mode=mode) as client:
        assert "probe_needs_sampling" in {t.name for t in (await client.list_tools()).tools}
        if mode == "legacy":
            _refused_legacy(await client.call_tool("probe_needs_sampling", {}), "sampling", None)
        else:
            await _refused_modern(client.call_tool("probe_needs_sampling", {}), "sampling")
    async with Client(server, mode=mode, sampling_callback=_sampling) as client:
        served = await client.call_tool("probe_needs_sampling", {})
        assert not served.is_error and structured(served)["slug"]


# ---- the product: save_as and upload paths need the client's roots ------------------------------
async def _file_id(client: Client, name: str) -> str:
    data = base64.b64encode(b"Hallo Welt").decode()
    up = await client.call_tool("upload_file", {"content_base64": data, "filename": name})
    return str(structured(up)["id"])


@pytest.mark.parametrize("mode", MODES)
async def test_save_as_needs_the_clients_roots_over_http(
    harness: Harness, registry: Registry, tmp_path: Path, mode: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    async with _http_server(harness, registry) as base:
        statuses = Statuses()
        async with _http_client(base, mode, statuses) as client:
            file_id = await _file_id(client, "notiz.txt")
            inline = await client.call_tool("download_file", {"file_id": file_id})  # no save_as: no roots needed
            assert not inline.is_error and structured(inline)["size"] == 10
            sent = len(harness.requests)
            save = client.call_tool("download_file", {"file_id": file_id, "save_as": f"{out}/"})
            upload = client.call_tool("upload_file", {"path": str(out / "x.txt")})
            if mode == "legacy":
                data = _refused_legacy(await save, "roots", "save_as")
                assert "DVERSUM_FILE_ROOTS" in data["hint"] and "without save_as" in data["hint"]
                _refused_legacy(await upload, "roots", "path")
            else:
                refused = await _refused_modern(save, "roots")
                assert statuses.seen[-1] == 400 and "DVERSUM_FILE_ROOTS" in refused.message
                await _refused_modern(upload, "roots")
            assert len(harness.requests) == sent, "a refused call reached the API"
            assert list(out.iterdir()) == []
        async with _http_client(base, mode, Statuses(), list_roots_callback=_roots_of(out)) as client:
            saved = structured(await client.call_tool("download_file", {"file_id": file_id, "save_as": f"{out}/"}))
            assert saved["saved_to"] == str(out / "notiz.txt") and (out / "notiz.txt").read_bytes() == b"Hallo Welt"
            up = await client.call_tool("upload_file", {"path": str(out / "notiz.txt"), "filename": "zurueck.txt"})
            assert not up.is_error and structured(up)["name"] == "zurueck.txt"


async def test_the_check_holds_through_call_write_tool_and_names_stateless_http(
    harness: Harness, registry: Registry, tmp_path: Path
) -> None:
    """The discovery route to a tool is checked like a direct call; a legacy stateless POST carries no
    capabilities (and has no channel to ask for roots), and the hint says so."""
    state = ServerState(
        Settings(token=Secret(""), confirm=False), registry, harness.api_client(), Selection(sandbox=True)
    )
    app = transports.http_app(build_server(state), host="127.0.0.1", stateless=True)
    args = {"name": "upload_file", "arguments": {"path": str(tmp_path / "x.txt")}}
    with _serve(app) as base:
        statuses = Statuses()
        async with _http_client(base, "2026-07-28", statuses) as client:
            await _refused_modern(client.call_tool("call_write_tool", args), "roots")
            assert statuses.seen[-1] == 400
        async with _http_client(base, "legacy", statuses, list_roots_callback=_roots_of(tmp_path)) as client:
            data = _refused_legacy(await client.call_tool("call_write_tool", args), "roots", "path")
            assert "stateless HTTP" in data["hint"]


async def test_a_confirmation_and_the_roots_are_asked_in_one_round(
    harness: Harness, probe_registry: Registry, tmp_path: Path
) -> None:
    """2026-07-28: each retry carries only the answers of the round before, so a call that must both ask
    the user and learn the folders asks for both at once (otherwise each answer would re-ask the other)."""
    out = tmp_path / "out"
    out.mkdir()
    asked: list[str] = []

    async def confirm(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"confirm": True})

    async def roots(context: Any) -> types.ListRootsResult:
        asked.append("roots")
        return types.ListRootsResult(roots=[types.Root(uri=out.as_uri())])

    settings = Settings(token=Secret(""))  # confirmations on
    kw: dict[str, Any] = {"elicitation_callback": confirm, "list_roots_callback": roots}
    harness.registry = probe_registry
    async with harness.mcp(settings=settings, mode="2026-07-28", **kw) as client:
        invoice_id = await _invoice(client)
        saved = await client.call_tool("probe_confirmed_pdf", {"invoice_id": invoice_id, "save_as": f"{out}/r.pdf"})
        assert structured(saved)["saved_to"] == str(out / "r.pdf"), saved
    assert len(asked) == 2 and "roots" in asked and any(a.startswith("Save the PDF of invoice") for a in asked)
    assert (out / "r.pdf").read_bytes().startswith(b"%PDF")


async def test_the_servers_own_folders_stand_in_for_roots(harness: Harness, registry: Registry, tmp_path: Path) -> None:
    out = tmp_path / "own"
    out.mkdir()
    settings = Settings(token=Secret(""), confirm=False, file_roots=(out,))
    async with _http_server(harness, registry, settings) as base:
        for mode in MODES:
            async with _http_client(base, mode, Statuses()) as client:
                file_id = await _file_id(client, f"{mode}.txt")
                saved = await client.call_tool("download_file", {"file_id": file_id, "save_as": f"{out}/"})
                assert structured(saved)["saved_to"] == str(out / f"{mode}.txt")


@pytest.mark.parametrize("mode", MODES)
async def test_save_as_needs_the_clients_roots_over_stdio(tmp_path: Path, mode: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    server = _stdio(tmp_path)
    async with Client(server, mode=mode) as client:
        invoice_id = await _invoice(client)
        call = client.call_tool("download_invoice_pdf", {"invoice_id": invoice_id, "save_as": f"{out}/r.pdf"})
        if mode == "legacy":
            _refused_legacy(await call, "roots", "save_as")
        else:
            await _refused_modern(call, "roots")
    assert list(out.iterdir()) == []
    async with Client(server, mode=mode, list_roots_callback=_roots_of(out)) as client:
        saved = await client.call_tool("download_invoice_pdf", {"invoice_id": invoice_id, "save_as": f"{out}/r.pdf"})
        assert structured(saved)["saved_to"] == str(out / "r.pdf")
    assert (out / "r.pdf").read_bytes().startswith(b"%PDF")


async def _invoice(client: Client) -> str:
    customer = structured(await client.call_tool("create_client", {"name": "Roots GmbH", "email": "r@roots.de"}))
    line = {"description": "Beratung", "quantity": 1, "unit_price_cents": 10000, "tax_rate": 19}
    invoice = await client.call_tool("create_invoice", {"client_id": customer["id"], "line_items": [line]})
    return str(structured(invoice)["id"])


# ---- the table: needs_client and extra directories are validated like everything else ----------
def _extra(tmp_path: Path, text: str, name: str = "probes") -> Path:
    folder = tmp_path / f"extra-{name}"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.toml").write_text(text)
    return folder


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda t: t.replace('name = "probe_needs_sampling"', 'name = "get_client"'), "duplicate tool name"),
        (lambda t: t.replace("order = 901", "order = 1"), "toolset order 1 is also"),
        (lambda t: t.replace('needs_client = ["sampling"]', 'needs_client = ["telepathy"]'), "needs_client"),
        (lambda t: t.replace('needs_client = ["sampling"]', 'needs_client = ["roots", "roots"]'), "twice"),
        (lambda t: t.replace('type = "string", needs', 'type = "string", required = true, needs'), "required"),
        (lambda t: t.replace('path = "/me"', 'path = "/me/{id}"', 1), "path placeholders"),
    ],
)
def test_extra_tables_are_validated_like_the_built_in_one(tmp_path: Path, edit: Any, expected: str) -> None:
    folder = _extra(tmp_path, edit(PROBES))
    with pytest.raises(ManifestError, match=expected) as info:
        load_manifest(extra=(folder,))
    assert str(folder / "probes.toml") in str(info.value)


def test_extra_tables_cannot_shadow_a_toolset_or_be_missing(tmp_path: Path) -> None:
    shadow = _extra(tmp_path, PROBES.replace('name = "probes"', 'name = "clients"'), "clients")
    with pytest.raises(ManifestError, match=r"toolset 'clients' is also clients\.toml"):
        load_manifest(extra=(shadow,))
    with pytest.raises(ManifestError, match="does not exist"):
        load_manifest(extra=(tmp_path / "nowhere",))
    twice = _extra(tmp_path, PROBES)
    with pytest.raises(ManifestError, match="duplicate tool name"):
        other = PROBES.replace('name = "probes"', 'name = "other"').replace("order = 901", "order = 902")
        load_manifest(extra=(twice, _extra(tmp_path, other, "other")))


def test_the_cli_refuses_a_malformed_extra_table(tmp_path: Path) -> None:
    import subprocess

    folder = _extra(tmp_path, PROBES.replace('name = "probe_needs_sampling"', 'name = "list_clients"'))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DVERSUM_")}
    env.update(DVERSUM_EXTRA_MANIFESTS=str(folder), DVERSUM_SANDBOX_DIR=str(tmp_path / "sandbox"))
    run = subprocess.run(
        [sys.executable, "-m", "dversum_mcp.cli", "tools"], env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 2 and "duplicate tool name" in run.stderr and "list_clients" in run.stderr


def test_only_the_product_table_ships_no_probe(registry: Registry) -> None:
    """The built-in table declares needs only where nothing else works: the local-file arguments."""
    needs = {
        (t.spec.name, p.name, c) for t in registry.tools.values() for p in t.spec.params for c in p.needs_client
    } | {(t.spec.name, None, c) for t in registry.tools.values() for c in t.spec.needs_client}
    assert needs == {(n, "save_as", "roots") for n in ("download_file", "download_invoice_pdf")} | {
        ("upload_file", "path", "roots")
    }
    assert "test_missing_capability" not in registry.tools


@pytest.mark.parametrize("mode", MODES)
async def test_a_malformed_call_is_refused_as_malformed_first(harness: Harness, mode: str) -> None:
    """-32021 only for a call that would otherwise run: a wrong save_as is invalid_arguments, roots or not."""
    async with harness.mcp(settings=Settings(token=Secret(""), confirm=False), mode=mode) as client:
        bad = await client.call_tool("download_file", {"file_id": "../x", "save_as": {"a": 1}})
        data = structured(bad)
        assert bad.is_error and data["error"] == "invalid_arguments", data
