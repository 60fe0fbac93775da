"""The MCP side of the views, without a browser: small self-contained documents with a strict CSP,
served only as `ui://` resources; clients without the extension get today's results and listing."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from mcp.server.apps import APP_MIME_TYPE

from dversum_mcp.server.views import MAX_VIEW_BYTES, view_document
from dversum_mcp.tools.manifest import VIEWS, load_manifest
from dversum_mcp.tools.registry import Registry
from tests.views.conftest import Sandbox, mcp_session
from tests.views.screenshots import week_window

pytestmark = pytest.mark.anyio

_CSP = re.compile(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">')


@pytest.mark.parametrize("view", VIEWS)
def test_documents_are_small_self_contained_and_locked_down(view: str) -> None:
    html = view_document(view)
    assert len(html.encode()) < MAX_VIEW_BYTES
    policy = dict(
        [*part.split(" ", 1), ""][:2] for part in (p.strip() for p in _CSP.findall(html)[0].split(";")) if part
    )
    assert policy["default-src"] == "'none'" and policy["connect-src"] == "'none'"
    assert policy["frame-src"] == "'none'" and policy["img-src"] == "data:"
    assert "unsafe" not in html.split("</head>")[0].split("Content-Security-Policy")[1].split(">")[0]
    # Exactly the document's own inline script and style may run, by hash.
    (script,) = re.findall(r"<script>(.*?)</script>", html, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert policy["script-src"] == f"'sha256-{digest}'"
    assert html.index("Content-Security-Policy") < html.index("<style>") < html.index("<script>")
    # No network and no markup from data anywhere in the document.
    assert "http:" not in html and "https:" not in html and "//" + "cdn" not in html
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "src="):
        assert sink not in html, sink
    assert "/*APP_JS*/" not in html and "/*APP_CSS*/" not in html and "<!--CSP-->" not in html


async def test_apps_clients_get_the_resources(sandbox: Sandbox) -> None:
    for mode in ("legacy", "auto"):
        async with mcp_session(sandbox, mode=mode) as client:
            listed = {str(r.uri): r for r in (await client.list_resources()).resources}
            views = {uri: r for uri, r in listed.items() if uri.startswith("ui://")}
            assert sorted(views) == [f"ui://dversum/{v}.html" for v in sorted(VIEWS)], mode
            assert all(r.mime_type == APP_MIME_TYPE for r in views.values())
            tools = (await client.list_tools()).tools
            pointed = {(t.meta or {}).get("ui", {}).get("resourceUri") for t in tools} - {None}
            assert pointed <= set(views)
            for uri in views:
                (content,) = (await client.read_resource(uri)).contents
                assert isinstance(content, types.TextResourceContents)
                assert content.mime_type == APP_MIME_TYPE
                assert content.meta == {"ui": {"csp": {}, "prefersBorder": True}}
                assert content.text.startswith("<!doctype html>")


async def test_unknown_view_is_not_found(sandbox: Sandbox) -> None:
    async with mcp_session(sandbox) as client:
        with pytest.raises(Exception, match="Unknown resource"):
            await client.read_resource("ui://dversum/nope.html")


def _without_meta(tool: types.Tool) -> dict[str, Any]:
    return tool.model_dump(by_alias=True, exclude_none=True, exclude={"meta"})


async def test_clients_without_the_extension_get_todays_listing_and_results(sandbox: Sandbox) -> None:
    async with mcp_session(sandbox, apps=False) as plain, mcp_session(sandbox) as apps:
        assert not [r for r in (await plain.list_resources()).resources if str(r.uri).startswith("ui://")]
        plain_tools = (await plain.list_tools()).tools
        assert plain_tools == (await apps.list_tools()).tools
        # Against the table without `view` keys (today's server): only `_meta` differs.
        manifest = load_manifest()
        bare = Registry(replace(manifest, tools=tuple(replace(t, view=None) for t in manifest.tools)))
        today = {t.spec.name: t.definition for t in bare.tools.values()}
        with_view = [t for t in plain_tools if t.meta]
        assert {t.name for t in with_view} >= {"list_project_tasks", "get_invoice", "create_invoice", "summarize_time"}
        for tool in plain_tools:
            if tool.name not in today:  # the discovery tools (search_tools, call_read_tool, …)
                assert tool.meta is None
                continue
            assert _without_meta(tool) == _without_meta(today[tool.name])
            assert today[tool.name].meta is None

        projects = (await plain.call_tool("list_projects", {})).structured_content or {}
        invoices = (await plain.call_tool("list_invoices", {"status": "sent"})).structured_content or {}
        calls = [
            ("list_project_tasks", {"project_id": projects["projects"][0]["id"]}),
            ("get_invoice", {"invoice_id": invoices["invoices"][0]["id"]}),
            ("summarize_time", week_window(date.today())),
        ]
        for name, arguments in calls:
            a = await plain.call_tool(name, arguments)
            b = await apps.call_tool(name, arguments)
            assert not a.is_error
            assert a.content == b.content and a.structured_content == b.structured_content and a.meta == b.meta


def test_unknown_view_in_the_table_fails_at_load(tmp_path: Path) -> None:
    from dversum_mcp.api.hooks import HOOKS
    from dversum_mcp.tools.manifest import ManifestError, manifest_dir

    root = tmp_path / "manifests"
    root.mkdir()
    for source in manifest_dir().glob("*.toml"):
        text = source.read_text(encoding="utf-8")
        (root / source.name).write_text(text.replace('view = "timesheet"', 'view = "gantt"'), encoding="utf-8")
    with pytest.raises(ManifestError, match=r"time\.toml, tool 'summarize_time'"):
        load_manifest(root, known_hooks=HOOKS)
    # Every view the table may name has its document.
    for view in VIEWS:
        assert view_document(view).startswith("<!doctype html>")
