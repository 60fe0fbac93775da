"""Tool results as the model sees them: `structuredContent` plus a compact text of the same data.

Some clients read only one of the two, so both carry everything. The text is compact JSON
without nulls and empty values (cheaper in tokens, same facts), with warnings first. Bytes
come back as an embedded resource with their MIME type. Sandbox results are marked in `_meta`.
Failures (`DversumError`) become `isError` results with the documented structured payload.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import mcp_types as types

from dversum_mcp.api.calls import Outcome
from dversum_mcp.api.errors import DversumError, error_payload

__all__ = ["SANDBOX_META", "compact", "render_error", "render_outcome", "render_unexpected"]

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
    """Compact JSON without nulls/empties, non-ASCII kept (umlauts, €)."""
    return json.dumps(_prune(value), ensure_ascii=False, separators=(",", ":"), default=str)


def _meta(sandbox: bool) -> dict[str, Any] | None:
    return dict(SANDBOX_META) if sandbox else None


def render_outcome(tool: str, outcome: Outcome, *, sandbox: bool) -> types.CallToolResult:
    data = dict(outcome.data)
    if outcome.warnings:
        data["warnings"] = list(outcome.warnings)
    lines = [f"Warning: {w}" for w in outcome.warnings]
    lines.append(compact(outcome.data))
    content: list[types.ContentBlock] = [types.TextContent(text="\n".join(lines))]
    if outcome.binary is not None:
        binary = outcome.binary
        content.append(
            types.EmbeddedResource(
                resource=types.BlobResourceContents(
                    uri=f"dversum://files/{tool}/{binary.filename}",
                    mime_type=binary.mime_type,
                    blob=base64.b64encode(binary.data).decode("ascii"),
                )
            )
        )
    return types.CallToolResult(content=content, structured_content=data, is_error=False, _meta=_meta(sandbox))


def render_error(exc: DversumError, *, sandbox: bool) -> types.CallToolResult:
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
    return types.CallToolResult(
        content=[types.TextContent(text=text)], structured_content=payload, is_error=True, _meta=_meta(sandbox)
    )


def render_unexpected(tool: str, *, sandbox: bool) -> types.CallToolResult:
    payload = {
        "error": "internal_error",
        "message": f"dversum-mcp failed unexpectedly while running {tool}; details are in the server log",
        "hint": "This is a bug in dversum-mcp, not in your arguments. Try another way, or report it.",
    }
    return types.CallToolResult(
        content=[types.TextContent(text=f"Error (internal_error): {payload['message']}. Hint: {payload['hint']}")],
        structured_content=payload,
        is_error=True,
        _meta=_meta(sandbox),
    )
