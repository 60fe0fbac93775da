"""A small MCP Apps host in headless Chromium (the Debian `chromium`, driven by Playwright) for the
views: the host page renders a `ui://` document in a sandboxed iframe, speaks the host side of the
protocol, and proxies the view's `tools/call` to a real SDK client session against the seeded
sandbox. Every request the page tries to make is recorded and blocked."""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.extension import advertise
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID

from dversum_mcp.api.client import ApiClient
from dversum_mcp.cli.backend import SANDBOX_BASE_URL
from dversum_mcp.config import Secret, Settings
from dversum_mcp.server.handlers import ServerState, build_server
from dversum_mcp.tools.registry import Registry, Selection
from dversum_sandbox import SandboxSettings, create_app
from dversum_sandbox.seed.workspace import ensure_seeded

HOST_PAGE = (Path(__file__).parent / "host.html").read_text(encoding="utf-8")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
APPS = advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})

LIGHT = {
    "theme": "light",
    "styles": {"variables": {"--color-background-primary": "#ffffff", "--color-text-primary": "#1b1d21"}},
}
DARK = {
    "theme": "dark",
    "styles": {
        "variables": {
            "--color-background-primary": "#101114",
            "--color-background-secondary": "#1d1f24",
            "--color-text-primary": "#f1f2f4",
        }
    },
}


def wire(result: types.CallToolResult) -> dict[str, Any]:
    """A CallToolResult as it travels to the view (camelCase JSON)."""
    return result.model_dump(by_alias=True, exclude_none=True, mode="json")


@dataclass
class Confirmations:
    """The host's answer to the server's confirmation questions (elicitation)."""

    answer: str = "accept"
    messages: list[str] = field(default_factory=list)
    page: Any = None
    """When set, the question is shown in the host page and the user's click answers it."""

    async def __call__(self, context: Any, params: Any) -> types.ElicitResult:
        self.messages.append(params.message)
        answer = self.answer
        if self.page is not None:
            answer = str(await self.page.evaluate("m => window.hostAsk(m)", params.message))
        content = {"confirm": True} if answer == "accept" else None
        return types.ElicitResult(action=answer, content=content)  # type: ignore[arg-type]


@dataclass
class Sandbox:
    settings: SandboxSettings
    token: str


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import anyio

    path = tmp_path_factory.mktemp("seeded")
    anyio.run(lambda: ensure_seeded(SandboxSettings(data_dir=path)))
    return path


@pytest.fixture
def sandbox(seeded_template: Path, tmp_path: Path) -> Sandbox:
    """A fresh copy of the seeded demo workspace for one test."""
    target = tmp_path / "sandbox"
    shutil.copytree(seeded_template, target)
    return Sandbox(SandboxSettings(data_dir=target), (target / "token").read_text().strip())


@asynccontextmanager
async def mcp_session(
    sandbox: Sandbox, *, apps: bool = True, confirmations: Confirmations | None = None, mode: str = "legacy"
) -> AsyncIterator[Client]:
    app = create_app(sandbox.settings)
    api = ApiClient(base_url=SANDBOX_BASE_URL, token=sandbox.token, transport=httpx2.ASGITransport(app=app))
    state = ServerState(Settings(token=Secret("")), Registry(), api, Selection(sandbox=True))
    kwargs: dict[str, Any] = {"extensions": [APPS]} if apps else {}
    if confirmations is not None:
        kwargs["elicitation_callback"] = confirmations
    try:
        async with api, Client(build_server(state), mode=mode, **kwargs) as client:
            yield client
    finally:
        await app.aclose()


@dataclass
class Host:
    client: Client
    page: Any
    requests: list[str]
    dialogs: list[str]
    calls: list[tuple[str, dict[str, Any]]]
    errors: list[str]
    """Console errors and uncaught exceptions of the page and the view (a CSP violation logs one)."""

    def assert_clean(self) -> None:
        """Nothing left the page, no dialog opened, nothing was refused or crashed."""
        assert self.requests == [], self.requests
        assert self.dialogs == [], self.dialogs
        assert self.errors == [], self.errors

    @property
    def view(self) -> Any:
        return self.page.frame_locator("#view")

    async def frame(self) -> Any:
        handle = await self.page.query_selector("#view")
        return await handle.content_frame()

    async def open(
        self, tool: str, arguments: dict[str, Any], context: dict[str, Any] | None = None
    ) -> types.CallToolResult:
        """Call `tool` for real, load its view, hand it the input and result as a host would."""
        listed = {t.name: t for t in (await self.client.list_tools()).tools}
        definition = listed.get(tool)
        if definition is None:  # not in the default listing, still callable
            reg = Registry().tools[tool]
            definition = reg.definition
        uri = (definition.meta or {})["ui"]["resourceUri"]
        read = await self.client.read_resource(uri)
        (content,) = read.contents
        assert isinstance(content, types.TextResourceContents) and content.mime_type == APP_MIME_TYPE
        result = await self.client.call_tool(tool, arguments)
        ctx = dict(context or LIGHT)
        ctx["toolInfo"] = {"tool": definition.model_dump(by_alias=True, exclude_none=True, mode="json")}
        ctx["displayMode"] = "inline"
        await self.page.evaluate(
            "([html, ctx, input, result]) => window.hostLoad(html, ctx, input, result)",
            [content.text, ctx, arguments, wire(result)],
        )
        await self.page.wait_for_function("window.__ready === true", timeout=10_000)
        return result

    async def show(
        self, view: str, arguments: dict[str, Any], result: dict[str, Any], context: dict[str, Any] | None = None
    ) -> None:
        """Load `view` and hand it a given tool result (for result shapes the sandbox does not produce)."""
        (content,) = (await self.client.read_resource(f"ui://dversum/{view}.html")).contents
        assert isinstance(content, types.TextResourceContents)
        await self.page.evaluate(
            "([html, ctx, input, result]) => window.hostLoad(html, ctx, input, result)",
            [content.text, dict(context or LIGHT), arguments, result],
        )
        await self.page.wait_for_function("window.__ready === true", timeout=10_000)

    async def log(self) -> list[dict[str, Any]]:
        return list(await self.page.evaluate("window.__log"))


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"  # module scope: one browser (below) serves every test of a module


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    async with launched() as chromium:
        yield chromium


@asynccontextmanager
async def launched() -> AsyncIterator[Any]:
    """The system chromium, headless, driven by Playwright (which never downloads a browser here)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            await chromium.close()


@asynccontextmanager
async def view_host(client: Client, browser: Any, *, width: int = 1100, height: int = 800) -> AsyncIterator[Host]:
    """A fresh browser context with the host page; every request is recorded and refused."""
    context = await browser.new_context(viewport={"width": width, "height": height}, service_workers="block")
    try:
        page = await context.new_page()
        requests: list[str] = []
        dialogs: list[str] = []
        calls: list[tuple[str, dict[str, Any]]] = []
        errors: list[str] = []

        async def block(route: Any) -> None:
            requests.append(route.request.url)
            await route.abort()

        async def on_dialog(dialog: Any) -> None:
            dialogs.append(dialog.message)
            await dialog.dismiss()

        async def mcp_call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
            calls.append((name, arguments))
            return wire(await client.call_tool(name, arguments))

        await context.route("**/*", block)
        page.on("request", lambda request: requests.append(request.url))
        page.on("dialog", on_dialog)
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.expose_function("mcpCall", mcp_call)
        await page.set_content(HOST_PAGE)
        host = Host(client, page, requests, dialogs, calls, errors)
        yield host
        host.assert_clean()  # every view test, also those that do not say so
    finally:
        await context.close()


def dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
