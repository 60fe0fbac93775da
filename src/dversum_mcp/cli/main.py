"""`dversum-mcp`: serve (stdio/SSE/HTTP), list tools, call one tool, drive the sandbox.

    dversum-mcp                              serve over stdio (what MCP clients spawn)
    dversum-mcp serve --transport http       Streamable HTTP on 127.0.0.1:8000/mcp (sse: /sse)
    dversum-mcp tools [--json]               the tool table by toolset, with token estimates
    dversum-mcp call TOOL '{"json": "args"}' one call, result on stdout (scripting, debugging)
    dversum-mcp sandbox serve|seed|reset|outbox
    dversum-mcp openapi [-o FILE]            OpenAPI 3.1 generated from the endpoint table
    dversum-mcp webhook verify|listen        check signatures / receive webhooks locally

Secrets (DVERSUM_API_TOKEN, DVERSUM_MCP_AUTH_TOKEN) come only from the environment or .env.
Nothing but JSON-RPC is written to stdout while serving stdio; logs go to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from dataclasses import replace
from typing import Any

import anyio

from dversum_mcp.config import Settings

__all__ = ["main"]


def _csv(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return tuple(v.strip() for v in value.split(",") if v.strip())


def _add_selection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--toolsets", help="comma list of toolsets, or 'all' (default: the 40-tool selection)")
    parser.add_argument("--tools", help="comma list of extra single tools to list")
    parser.add_argument("--exclude-tools", help="comma list of tools to hide and refuse")
    parser.add_argument("--read-only", action="store_true", help="only read-only tools")
    parser.add_argument("--documented-only", action="store_true", help="hide endpoints not in the API reference")
    parser.add_argument("--dynamic", action="store_true", help="list only discovery tools; enable toolsets on demand")
    parser.add_argument("--no-confirm", action="store_true", help="never ask the user to confirm destructive calls")
    parser.add_argument(
        "--lockdown", action="store_true", help="withhold text written outside the organization (bookings, signers)"
    )


def _apply(settings: Settings, args: argparse.Namespace) -> Settings:
    updates: dict[str, Any] = {}
    for name in ("toolsets", "tools", "exclude_tools"):
        value = _csv(getattr(args, name, None))
        if value is not None:
            updates[name] = value
    for name in ("read_only", "documented_only", "dynamic", "lockdown"):
        if getattr(args, name, False):
            updates[name] = True
    if getattr(args, "no_confirm", False):
        updates["confirm"] = False
    if getattr(args, "webhook_port", None):
        updates["webhook_port"] = args.webhook_port
    return replace(settings, **updates)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dversum-mcp", description="MCP server for the dVersum API")
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the MCP server")
    serve.add_argument("--transport", choices=("stdio", "sse", "http"), default="stdio")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--stateless", action="store_true", help="Streamable HTTP without sessions")
    serve.add_argument(
        "--json-response",
        action="store_true",
        help="Streamable HTTP answers as one JSON body, not an SSE stream (no progress/log notifications)",
    )
    serve.add_argument("--webhook-port", type=int, help="also receive webhooks on 127.0.0.1:PORT (a resource)")
    serve.add_argument(
        "--webhook-unverified",
        action="store_true",
        help="receive webhooks without DVERSUM_WEBHOOK_SECRET; events are shown as unverified",
    )
    serve.add_argument(
        "--multi-user",
        action="store_true",
        help="HTTP for a team: OAuth per user, each call with that user's dVersum token, state in Redis",
    )
    serve.add_argument("--workers", type=int, default=1, help="--multi-user: worker processes (uvicorn)")
    _add_selection(serve)
    tools = sub.add_parser("tools", help="list the tools by toolset")
    tools.add_argument("--json", action="store_true")
    _add_selection(tools)
    call = sub.add_parser("call", help="call one tool and print its result")
    call.add_argument("tool")
    call.add_argument("arguments", nargs="?", default="{}")
    sandbox = sub.add_parser("sandbox", help="the embedded sandbox")
    sandbox_sub = sandbox.add_subparsers(dest="sandbox_command", required=True)
    sb_serve = sandbox_sub.add_parser("serve", help="serve the sandbox API on loopback")
    sb_serve.add_argument("--host", default="127.0.0.1")
    sb_serve.add_argument("--port", type=int, default=8080)
    sb_seed = sandbox_sub.add_parser("seed", help="fill the demo workspace (again with --force)")
    sb_seed.add_argument("--force", action="store_true")
    sandbox_sub.add_parser("reset", help="delete all sandbox data")
    sandbox_sub.add_parser("outbox", help="print the e-mails the sandbox would have sent")
    openapi = sub.add_parser("openapi", help="write the OpenAPI 3.1 document")
    openapi.add_argument("-o", "--output")
    webhook = sub.add_parser("webhook", help="webhook helpers")
    webhook_sub = webhook.add_subparsers(dest="webhook_command", required=True)
    verify = webhook_sub.add_parser("verify", help="verify X-Dversum-Signature for a body (secret from env)")
    verify.add_argument("--signature", required=True, help="the header value, sha256=<hex>")
    verify.add_argument("--body-file", required=True, help="file with the raw request body ('-' for stdin)")
    listen = webhook_sub.add_parser("listen", help="receive webhooks on loopback and print them")
    listen.add_argument("--host", default="127.0.0.1")
    listen.add_argument("--port", type=int, default=8787)
    audit = sub.add_parser("audit", help="print a user's audit log (multi-user server; Redis from env)")
    audit.add_argument("--user", required=True, help="the user id (dVersum user id)")
    audit.add_argument("--limit", type=int, default=50)
    audit.add_argument("--json", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader went away (`dversum-mcp call … | head`): stop quietly, like cat. Output still
        # buffered would fail again at exit, so stdout now points nowhere.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 141  # what a shell reports for a process ended by SIGPIPE


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    settings = _apply(Settings.load(), args)
    _refuse_unusable_secrets(settings)
    from dversum_mcp.logs import configure_logging

    configure_logging(settings.log_level, [settings.token.reveal(), settings.mcp_auth_token.reveal()])
    command = args.command or "serve"
    if command == "serve" and getattr(args, "multi_user", False):
        from dversum_mcp.cli.remote import serve_multi_user

        return serve_multi_user(settings, args)
    if command == "audit":
        from dversum_mcp.cli.remote import print_audit

        return print_audit(args)
    if command == "serve":
        transport = getattr(args, "transport", "stdio")
        if getattr(args, "stateless", False) and settings.dynamic:
            print(
                "dversum-mcp: --stateless cannot be combined with --dynamic (DVERSUM_DYNAMIC): dynamic toolsets are "
                "per session and stateless HTTP has none; drop one of the two",
                file=sys.stderr,
            )
            return 2
        if settings.webhook_port and not settings.webhook_secret and not getattr(args, "webhook_unverified", False):
            print(
                "dversum-mcp: the webhook receiver needs DVERSUM_WEBHOOK_SECRET (the subscription's secret), or "
                "--webhook-unverified to accept unsigned events, shown to the model as unverified",
                file=sys.stderr,
            )
            return 2
        return anyio.run(
            _serve,
            settings,
            transport,
            getattr(args, "host", "127.0.0.1"),
            getattr(args, "port", 8000),
            getattr(args, "stateless", False),
            getattr(args, "json_response", False),
        )
    if command == "tools":
        return _tools(settings, args.json)
    if command == "call":
        return anyio.run(_call, settings, args.tool, args.arguments)
    if command == "sandbox":
        from dversum_mcp.cli.sandbox import run_sandbox_command

        return run_sandbox_command(args)
    if command == "openapi":
        from dversum_mcp.tools.openapi import write_openapi

        return write_openapi(args.output)
    if command == "webhook":
        from dversum_mcp.cli.webhook import run_webhook_command

        return run_webhook_command(args)
    raise SystemExit(f"unknown command {command}")


def _refuse_unusable_secrets(settings: Settings) -> None:
    """A token that cannot be a bearer value (the example's `dvk_live_…` placeholder, a pasted
    line with spaces) stops start-up with the variable's name, instead of failing every call."""
    from dversum_mcp.server.scrub import token_problem

    for name, secret in (("DVERSUM_API_TOKEN", settings.token), ("DVERSUM_MCP_AUTH_TOKEN", settings.mcp_auth_token)):
        problem = token_problem(name, secret.reveal())
        if problem is not None:
            print(f"dversum-mcp: {problem}", file=sys.stderr)
            raise SystemExit(2)


def _state_parts(settings: Settings) -> tuple[Any, Any]:
    from dversum_mcp.tools.manifest import ManifestError
    from dversum_mcp.tools.registry import Registry, Selection, SelectionError

    try:
        registry = Registry(output_schemas=settings.output_schemas, extra_manifests=settings.extra_manifests)
    except ManifestError as exc:
        print(f"dversum-mcp: the endpoint table is malformed: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    selection = Selection(
        toolsets=settings.toolsets,
        tools=settings.tools,
        exclude_tools=settings.exclude_tools,
        read_only=settings.read_only,
        documented_only=settings.documented_only,
    )
    try:
        registry.check_names(selection)
    except SelectionError as exc:
        print(f"dversum-mcp: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    return registry, selection


async def _serve(
    settings: Settings, transport: str, host: str, port: int, stateless: bool, json_response: bool = False
) -> int:
    import logging

    from dversum_mcp.cli.backend import open_backend
    from dversum_mcp.server.handlers import ServerState, build_server
    from dversum_mcp.transports import http as transports

    registry, selection = _state_parts(settings)
    log = logging.getLogger("dversum_mcp")
    async with open_backend(settings) as backend:
        if backend.sandbox:
            log.warning(
                "no DVERSUM_API_TOKEN set: serving the embedded sandbox (demo data, nothing leaves this machine)"
            )
        inbox = None
        if settings.webhook_port:
            from dversum_mcp.transports.webhook_inbox import WebhookInbox

            inbox = WebhookInbox()
        state = ServerState(
            settings,
            registry,
            backend.client,
            replace(selection, sandbox=backend.sandbox),
            dynamic=settings.dynamic,
            webhook_events=inbox.events if inbox is not None else None,
            stateless=stateless and transport == "http",
        )
        server = build_server(state)
        auth = settings.mcp_auth_token.reveal()
        async with anyio.create_task_group() as group:
            if inbox is not None and settings.webhook_port:
                group.start_soon(_webhook_receiver, state, inbox, settings.webhook_port)
            if transport == "stdio":
                from dversum_mcp.transports.stdio import serve_stdio

                await serve_stdio(server, max_line_bytes=settings.max_message_bytes)
            elif transport == "http":
                log.info(
                    "Streamable HTTP for MCP clients at http://%s:%d/mcp (not a web page: a browser gets 400). "
                    "Connect a client, e.g. `claude mcp add --transport http dversum http://%s:%d/mcp`, or try "
                    "single tools with `dversum-mcp call list_clients '{}'`.",
                    host,
                    port,
                    host,
                    port,
                )
                await transports.serve_http(
                    server, host=host, port=port, stateless=stateless, json_response=json_response, auth_token=auth
                )
            else:
                log.info("SSE on http://%s:%d/sse", host, port)
                await transports.serve_sse(server, host=host, port=port, auth_token=auth)
            group.cancel_scope.cancel()
    return 0


async def _webhook_receiver(state: Any, inbox: Any, port: int) -> None:
    """Serve the webhook inbox on loopback and announce each new event to the MCP sessions."""
    import logging
    import os

    import uvicorn

    from dversum_mcp.server.handlers import announce_webhook_event
    from dversum_mcp.transports.webhook_inbox import webhook_app

    send, receive = anyio.create_memory_object_stream[object](100)
    inbox.on_event.append(lambda event: _offer(send, event))
    secret = state.settings.webhook_secret.reveal() or None
    tunnels = tuple(h.strip() for h in os.environ.get("DVERSUM_WEBHOOK_HOSTS", "").split(",") if h.strip())
    app = webhook_app(inbox, secret, allowed_hosts=tunnels)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, log_level="warning", lifespan="off")
    logging.getLogger("dversum_mcp").info("receiving webhooks on http://127.0.0.1:%d/", port)
    async with anyio.create_task_group() as group:
        group.start_soon(uvicorn.Server(config).serve)
        async for _ in receive:
            await announce_webhook_event(state)


def _offer(send: Any, event: object) -> None:
    with contextlib.suppress(anyio.WouldBlock):  # a burst: one notification per queued batch is enough
        send.send_nowait(event)


def _estimate_tokens(value: Any) -> int:
    return max(1, round(len(json.dumps(value, ensure_ascii=False, separators=(",", ":"))) / 4))


def _tools(settings: Settings, as_json: bool) -> int:
    registry, selection = _state_parts(settings)
    listed = {t.spec.name for t in registry.listed(selection)}
    if as_json:
        rows = [
            {
                "name": t.spec.name,
                "toolset": t.spec.toolset,
                "method": t.spec.method,
                "path": t.spec.path,
                "source": t.spec.source,
                "listed": t.spec.name in listed,
                "annotations": t.spec.annotations.model_dump(),
                "params": [
                    {"name": p.name, "in": p.where, "api_name": p.wire_name, "required": p.required}
                    for p in t.spec.params
                ],
            }
            for t in registry.tools.values()
        ]
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    total_tokens = 0
    for toolset, tools in registry.by_toolset().items():
        cost = sum(_estimate_tokens(t.definition.model_dump(by_alias=True, exclude_none=True)) for t in tools)
        total_tokens += cost
        print(f"\n{toolset} — {len(tools)} tools, ≈{cost} tokens")
        for t in tools:
            mark = "*" if t.spec.name in listed else " "
            where = f"{t.spec.method} {t.spec.path}" if t.spec.method else "(composite)"
            print(f"  {mark} {t.spec.name:<28} {where:<48} {t.spec.source}")
    from dversum_mcp.server.discovery import DYNAMIC_ONLY, META_TOOLS

    metas = [n for n, m in META_TOOLS.items() if n not in DYNAMIC_ONLY and (m.read_only or not settings.read_only)]
    print(
        f"\n{len(registry.tools)} tools, ≈{total_tokens} tokens in all (chars/4 estimate); "
        f"* = listed with these settings: {len(listed)} + {len(metas)} discovery tools = {len(listed) + len(metas)}"
        " (on the sandbox, read_sandbox_outbox too)"
    )
    return 0


async def _call(settings: Settings, tool: str, raw_arguments: str) -> int:
    from mcp import Client

    from dversum_mcp.cli.backend import open_backend
    from dversum_mcp.server.handlers import ServerState, build_server

    try:
        arguments = json.loads(raw_arguments)
    except json.JSONDecodeError as exc:
        near = raw_arguments[max(exc.pos - 20, 0) : exc.pos + 20]
        print(
            f"dversum-mcp: the arguments are not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
            f' (character {exc.pos}), near {near!r}. Quote the JSON for the shell: \'{{"key": "value"}}\'',
            file=sys.stderr,
        )
        return 2
    if not isinstance(arguments, dict):
        print(
            f"dversum-mcp: the arguments must be a JSON object ({{…}}), not {type(arguments).__name__}",
            file=sys.stderr,
        )
        return 2
    registry, selection = _state_parts(replace(settings, toolsets=settings.toolsets or ("all",)))
    async with open_backend(settings) as backend:
        state = ServerState(settings, registry, backend.client, replace(selection, sandbox=backend.sandbox))
        async with Client(build_server(state), mode="legacy") as client:
            result = await client.call_tool(tool, arguments)
    output = result.structured_content
    if output is None:
        output = {"content": [c.model_dump(by_alias=True, exclude_none=True) for c in result.content]}
    stream = sys.stderr if result.is_error else sys.stdout
    print(json.dumps(output, indent=2, ensure_ascii=False), file=stream)
    return 1 if result.is_error else 0


if __name__ == "__main__":
    raise SystemExit(main())
