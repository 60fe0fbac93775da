"""Tool results as the model sees them: `structuredContent` plus a compact text of the same data.

Some clients read only one of the two, so both carry everything. The text is compact JSON
without nulls and empty values (cheaper in tokens, same facts), with warnings first. Bytes
come back as an embedded resource with their MIME type. Sandbox results are marked in `_meta`.
Failures (`DversumError`) become `isError` results with the documented structured payload.

Results are built in their wire form (a `CallToolResult` as a dict, camelCase keys): the SDK
validates a handler's dict against the protocol's result schema just as it does a model, so
building the model only to dump it again would cost a third of a list call's rendering.
"""

from __future__ import annotations

import base64
from typing import Any

import pydantic_core

from dversum_mcp.api.calls import Outcome
from dversum_mcp.api.errors import DversumError, error_payload

__all__ = ["SANDBOX_META", "ToolResult", "compact", "render_error", "render_outcome", "render_unexpected"]

ToolResult = dict[str, Any]
"""A `CallToolResult` in wire form: content, structuredContent, isError, _meta."""

SANDBOX_META = {"dversum/sandbox": True, "dversum/note": "Local sandbox data, not your real dVersum workspace."}


_SCALARS = frozenset({str, int, float, bool})


def _prune_dict(value: dict[Any, Any]) -> dict[Any, Any]:
    """Drop None, "", [] and {} values (also dicts that become empty); one pass, no call per scalar."""
    out = {}
    for key, item in value.items():
        cls = type(item)
        if cls in _SCALARS:  # the common case first: plain JSON scalars
            if cls is str and not item:
                continue
        elif item is None:
            continue
        elif isinstance(item, dict):
            item = _prune_dict(item)
            if not item:
                continue
        elif isinstance(item, list):
            if not item:
                continue
            item = _prune_list(item)
        elif isinstance(item, str) and not item:
            continue
        out[key] = item
    return out


def _prune_list(value: list[Any]) -> list[Any]:
    """List items are kept (positions mean something); dicts inside them are pruned."""
    return [
        _prune_dict(item) if isinstance(item, dict) else _prune_list(item) if isinstance(item, list) else item
        for item in value
    ]


def _prune(value: Any) -> Any:
    if isinstance(value, dict):
        return _prune_dict(value)
    if isinstance(value, list):
        return _prune_list(value)
    return value


def compact(value: Any) -> str:
    """Compact JSON without nulls/empties, non-ASCII kept (umlauts, €); what json.dumps gives
    with separators=(",", ":") and ensure_ascii=False, in a third of the time (pydantic-core)."""
    return pydantic_core.to_json(_prune(value), fallback=str).decode()


def _result(text: str, structured: dict[str, Any], *, is_error: bool, sandbox: bool) -> ToolResult:
    result: ToolResult = {
        "content": [{"type": "text", "text": text}],
        "structuredContent": structured,
        "isError": is_error,
        "resultType": "complete",  # required from 2026-07-28 on; older protocol versions' schema drops it
    }
    if sandbox:
        result["_meta"] = dict(SANDBOX_META)
    return result


def render_outcome(tool: str, outcome: Outcome, *, sandbox: bool) -> ToolResult:
    data = dict(outcome.data)
    if outcome.warnings:
        data["warnings"] = list(outcome.warnings)
    lines = [f"Warning: {w}" for w in outcome.warnings]
    lines.append(compact(outcome.data))
    result = _result("\n".join(lines), data, is_error=False, sandbox=sandbox)
    if outcome.binary is not None:
        binary = outcome.binary
        result["content"].append(
            {
                "type": "resource",
                "resource": {
                    "uri": f"dversum://files/{tool}/{binary.filename}",
                    "mimeType": binary.mime_type,
                    "blob": base64.b64encode(binary.data).decode("ascii"),
                },
            }
        )
    return result


def render_error(exc: DversumError, *, sandbox: bool) -> ToolResult:
    payload = error_payload(exc)
    text = f"Error ({payload['error']}"
    if payload.get("status"):
        text += f", HTTP {payload['status']}"
    text += f"): {payload['message']}"
    if payload.get("field"):
        text += f" [field: {payload['field']}]"
    if payload.get("retry_after_s") is not None:
        text += f" Retry after {payload['retry_after_s']} s."
    if payload.get("hint"):
        text += f" Hint: {payload['hint']}"
    return _result(text, payload, is_error=True, sandbox=sandbox)


def render_unexpected(tool: str, *, sandbox: bool) -> ToolResult:
    payload = {
        "error": "internal_error",
        "message": f"dversum-mcp failed unexpectedly while running {tool}; details are in the server log",
        "hint": "This is a bug in dversum-mcp, not in your arguments. Try another way, or report it.",
    }
    text = f"Error (internal_error): {payload['message']}. Hint: {payload['hint']}"
    return _result(text, payload, is_error=True, sandbox=sandbox)
