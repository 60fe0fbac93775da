"""Client capabilities a call needs (`needs_client` in the tool table), checked before anything runs.

A tool, or one of its arguments when it is given, can need a capability of the client: `roots` (the
client's folders), `sampling` (its model), `elicitation` (its user). A call whose client did not
declare one is refused before confirmation, validation or any API request:

- 2026-07-28: `MissingRequiredClientCapabilityError`, JSON-RPC -32021 with `data.requiredCapabilities`
  a ClientCapabilities object (`{"roots": {}}`); the SDK answers it with HTTP 400 on HTTP.
- Older protocols (no -32021): an isError result `missing_client_capability` that names what is
  missing and how to get it (turn it on in the client, leave the argument out, or the server setting
  that stands in for it).

What the client declared is the request's `_meta` `io.modelcontextprotocol/clientCapabilities` on
2026-07-28, the connection's `initialize` capabilities before. A legacy stateless HTTP request carries
neither, and the server cannot send it a request either, so nothing is declared there.

The server can stand in for a capability (`provided`: `roots` when `DVERSUM_FILE_ROOTS` names
folders), and can be unable to use one at all (`unreachable`: `roots` on the multi-user server, whose
disk is not the user's): then the argument is refused as unusable on this server, whatever the client
declared.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from dversum_mcp.api.errors import ArgumentError
from dversum_mcp.tools.manifest import CLIENT_CAPABILITIES, ToolSpec

__all__ = ["MissingClientCapability", "check_capabilities", "needed", "to_protocol_error"]

_WHAT = {
    "roots": "the folders the client shares (MCP roots)",
    "sampling": "the client's model (MCP sampling)",
    "elicitation": "questions to the user (MCP elicitation)",
}


class MissingClientCapability(ArgumentError):
    """The client did not declare a capability this call cannot work without; nothing ran."""

    code = "missing_client_capability"

    def __init__(self, tool: str, missing: dict[str, str | None], hint: str) -> None:
        names = ", ".join(missing)
        args = [a for a in missing.values() if a]
        what = "; ".join(_WHAT[c] for c in missing)
        needer = f"{tool} with {', '.join(args)}" if args else tool
        super().__init__(
            f"{needer} needs the client capability {names} ({what}), which this client did not declare",
            field=args[0] if args else None,
            hint=hint,
        )
        self.tool = tool
        self.missing = missing


def needed(spec: ToolSpec, arguments: Mapping[str, Any] | None) -> dict[str, str | None]:
    """The capabilities this call needs: the tool's own (→ None) and those of each argument given (→ its name)."""
    out: dict[str, str | None] = dict.fromkeys(spec.needs_client)
    given = arguments or {}
    for param in spec.params:
        if param.needs_client and given.get(param.name) not in (None, "", False):
            for capability in param.needs_client:
                out.setdefault(capability, param.name)
    return out


def declared(ctx: ServerRequestContext[Any, Any]) -> set[str] | None:
    """The capabilities the client declared for this request; None when the request carries none at all
    (legacy stateless HTTP, see the module doc)."""
    try:
        caps = ctx.session.client_capabilities
    except Exception:
        return None
    if caps is None:
        return None
    return {name for name in CLIENT_CAPABILITIES if getattr(caps, name, None) is not None}


def check_capabilities(
    ctx: ServerRequestContext[Any, Any],
    spec: ToolSpec,
    arguments: Mapping[str, Any] | None,
    *,
    provided: Collection[str],
    unreachable: Mapping[str, str],
) -> None:
    """Raise `MissingClientCapability` (or an ArgumentError for an unusable one) when the call cannot work.

    `provided`: capabilities a server setting already stands in for (`roots`: DVERSUM_FILE_ROOTS is set).
    `unreachable`: capability → why this server cannot use it even when the client declares it."""
    needs = {c: a for c, a in needed(spec, arguments).items() if c not in provided}
    for capability, argument in needs.items():
        if capability in unreachable:
            raise ArgumentError(
                f"{argument or spec.name} cannot be used on this server: {unreachable[capability]}",
                field=argument,
                hint=f"Call {spec.name} without {argument}." if argument else None,
            )
    have = declared(ctx)
    missing = {c: a for c, a in needs.items() if have is None or c not in have}
    if not missing:
        return
    fixes = [f"use an MCP client that declares the {' and '.join(missing)} capability (and turn it on)"]
    if have is None and ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
        fixes[0] += ", connected with a session (stateless HTTP carries no client capabilities)"
    args = sorted({a for a in missing.values() if a})
    if args:
        fixes.append(f"call {spec.name} without {', '.join(args)}")
    settings = sorted({_STAND_INS[c] for c in missing if c in _STAND_INS})
    if settings:
        fixes.append(f"ask the server's operator to set {', '.join(settings)}")
    raise MissingClientCapability(spec.name, missing, "To go on: " + "; or ".join(fixes) + ".")


_STAND_INS = {"roots": "DVERSUM_FILE_ROOTS"}
"""Server settings that can stand in for a client capability (the server's own allowed folders)."""


def to_protocol_error(ctx: ServerRequestContext[Any, Any], exc: MissingClientCapability) -> MCPError | None:
    """On 2026-07-28 the error -32021 (HTTP 400) to raise; None on older protocols (answer the isError)."""
    if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
        return None
    required = types.ClientCapabilities.model_validate({c: {} for c in exc.missing})
    data = types.MissingRequiredClientCapabilityErrorData(required_capabilities=required)
    return MCPError(
        code=types.MISSING_REQUIRED_CLIENT_CAPABILITY,
        message=f"{exc.message}. {exc.hint}",
        data=data.model_dump(by_alias=True, mode="json", exclude_none=True),
    )
