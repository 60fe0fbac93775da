"""Tool results as the model sees them: `structuredContent` plus a compact text of the same data.

Some clients read only one of the two, so both carry the same items, and each stays within the
result budget (`DVERSUM_RESULT_BUDGET` tokens, estimated by `tokens.estimate_tokens`). Lists are
a table with the column names once (`text.py`); a list that does not fit answers the items that
fit with `total` and an opaque `next_cursor`. A single object too large for the budget (a long
page) is cut at a block boundary, with a cursor for the rest where the tool takes one.
`structuredContent` keeps every field, without nulls and without nested copies of what an id
already names, with euros beside the cents (some clients give the model only this view).
Warnings come first. Bytes come back as an embedded resource with their MIME type. Sandbox
results are marked in `_meta`. Failures (`DversumError`) become `isError` results
with the documented structured payload.

Results are built in their wire form (a `CallToolResult` as a dict, camelCase keys): the SDK
validates a handler's dict against the protocol's result schema just as it does a model, so
building the model only to dump it again would cost a third of a list call's rendering.
"""

from __future__ import annotations

import base64
from typing import Any

from dversum_mcp.api.calls import ListWindow, Outcome
from dversum_mcp.api.cursor import TextCursor, decode_text_cursor
from dversum_mcp.api.errors import DversumError, error_payload
from dversum_mcp.server.shape import compact, slim, to_json, with_euros
from dversum_mcp.server.text import columns_for, object_lines, table_header, table_row, whole_characters
from dversum_mcp.server.tokens import DEFAULT_BUDGET, estimate_tokens

__all__ = [
    "SANDBOX_META",
    "ToolResult",
    "list_is_full",
    "render_error",
    "render_outcome",
    "render_unexpected",
]

ToolResult = dict[str, Any]
"""A `CallToolResult` in wire form: content, structuredContent, isError, _meta."""

SANDBOX_META = {"dversum/sandbox": True, "dversum/note": "Local sandbox data, not your real dVersum workspace."}


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


# ---- the budget ------------------------------------------------------------------------------
_RESERVE = 150  # header, cursor and warning lines; the envelope around the JSON


def list_is_full(key: str, items: list[Any], budget: int = DEFAULT_BUDGET) -> bool:
    """For the API walk: do these raw items already fill one answer? (`structuredContent`, the
    larger of the two views, decides.)"""
    return _RESERVE + estimate_tokens(to_json([with_euros(slim(it)) for it in items])) > budget


def _costs(parts: list[str]) -> list[float]:
    """Each part's share of the estimate of all parts (one estimate instead of one per part)."""
    total = estimate_tokens("\n".join(parts))
    size = sum(map(len, parts)) + len(parts)
    return [total * (len(p) + 1) / size for p in parts] if size else []


def _fit(costs: list[float], room: float) -> int:
    used = 0.0
    for i, cost in enumerate(costs):
        used += cost
        if used > room:
            return i
    return len(costs)


def _render_list(outcome: Outcome, window: ListWindow, budget: int) -> tuple[str, dict[str, Any]]:
    raw = outcome.data.get(window.key) or []
    items = [slim(it) if isinstance(it, dict) else {"value": it} for it in raw]
    warnings = list(outcome.warnings)
    if window.fields and items:
        known = {k for it in items for k in it}
        unknown = [f for f in window.fields if f not in known]
        if unknown:
            warnings.append(f"fields {', '.join(unknown)} are not in these items; they have {', '.join(sorted(known))}")
    if window.fields:
        keep = {"id", *window.fields}
        items = [{k: v for k, v in it.items() if k in keep} for it in items]
    columns, other = columns_for(window.key, items, window.fields)
    rows = [table_row(it, columns) for it in items]
    header = table_header(columns)
    fixed = _RESERVE + estimate_tokens("\n".join([header, ", ".join(other), *warnings]))
    room = (budget - fixed) * 0.97  # the shares are averages; rows differ a little in density
    views = [with_euros(it) for it in items]  # what structuredContent holds of each item
    jsons = [to_json(it) for it in views]
    if len("\n".join(rows).encode()) <= room and len(",".join(jsons).encode()) <= room:
        shown = len(items)  # fewer bytes than tokens allowed: fits without counting
    else:
        shown = min(_fit(_costs(rows), room), _fit(_costs(jsons), room))
    forced = bool(items) and shown == 0
    if forced:
        shown = 1  # one item larger than the budget: _enforce cuts it
    last_ids: list[str] = []  # the cursor's anchors: the last items shown, the last first
    for it in reversed(items[max(0, shown - 3) : shown]):
        if it.get("id") is None:
            break
        last_ids.append(str(it["id"]))
    cursor = window.cursor_after(shown, last_ids)
    first, end = window.start + 1, window.start + shown
    span = f"{first}-{end} of {window.total}" if shown else f"none of {window.total}"
    lines = [f"Warning: {w}" for w in warnings]
    lines.append(f"{window.key} {span}" + (f"; more with cursor={cursor}" if cursor else ""))
    if shown:
        lines.append(header)
        lines.extend(rows[:shown])
    if other and shown:
        lines.append(f"Other fields (ask with fields=[...]): {', '.join(other)}")
    structured: dict[str, Any] = {window.key: views[:shown], "total": window.total, "shown": span}
    if cursor:
        structured["next_cursor"] = cursor
    if warnings:
        structured["warnings"] = warnings
    if forced:
        return _enforce("\n".join(lines), structured, budget)
    return "\n".join(lines), structured


def _longest_text(data: dict[str, Any]) -> str | None:
    """The field to cut when an object is too large: its longest text, if it is long at all."""
    best, size = None, 2000
    for key, value in data.items():
        if isinstance(value, str) and len(value) > size:
            best, size = key, len(value)
    return best


def _text_cost(text: str) -> int:
    """What a text costs in the larger of the two views: as itself, or JSON-escaped in
    structuredContent (newlines, quotes, backslashes and control characters cost more there)."""
    return max(estimate_tokens(text), estimate_tokens(compact(text)))


def _cut_point(text: str, limit: int) -> int:
    """The last block boundary (blank line, else line end, else space) at or before `limit`.

    A blank line inside a fenced code block is no block boundary: a code block that would be
    split moves whole to the rest when it starts late enough. The cut never splits a character
    as the reader sees it (a letter and its combining accents, a flag's two regional indicators,
    an emoji sequence joined by ZWJ or with a skin tone or variation selector)."""
    if limit >= len(text):
        return len(text)
    cut = max(1, limit)
    for sep in ("\n\n", "\n", " "):
        at = text.rfind(sep, 0, limit)
        if at > limit // 4:
            cut = at + len(sep)
            break
    fence = _open_fence(text, cut)
    if fence is not None and fence > limit // 4:
        cut = fence
    return whole_characters(text, cut)


def _open_fence(text: str, cut: int) -> int | None:
    """Where the fenced code block that is still open at `cut` starts (its fence line), if any."""
    opened: tuple[int, str] | None = None
    at = 0
    for line in text[:cut].splitlines(keepends=True):
        stripped = line.lstrip(" ")
        if len(line) - len(stripped) <= 3 and stripped[:3] in ("```", "~~~"):
            marker = stripped[: len(stripped) - len(stripped.lstrip(stripped[0]))]
            if opened is None:
                opened = (at, marker)
            elif stripped.startswith(opened[1]) and not stripped.rstrip().lstrip(opened[1][0]):
                opened = None
        at += len(line)
    return None if opened is None else opened[0]


def _render_object(outcome: Outcome, budget: int, continuable: bool, tool: str) -> tuple[str, dict[str, Any]]:
    data = slim(outcome.data)
    warnings = list(outcome.warnings)
    if not isinstance(data, dict):
        data = {"result": data}
    if outcome.resume is None:
        fast = _small(outcome, data, warnings, budget)
        if fast is not None:
            return fast
    note: list[str] = []
    field = _longest_text(data)
    offset = 0
    if outcome.resume:
        cursor = decode_text_cursor(outcome.resume)
        if cursor.field in data and isinstance(data[cursor.field], str):
            field, offset = cursor.field, min(cursor.offset, len(data[cursor.field]))
            data[field] = data[field][offset:]
            data[f"{field}_offset"] = offset
            note.append(f"{field} continues at character {offset}.")

    def sizes() -> int:
        text = "\n".join([*warnings, *note, *object_lines(data)])
        return max(estimate_tokens(text), estimate_tokens(compact(with_euros(data)))) + _RESERVE

    if sizes() > budget and field is not None:
        full = data[field]
        whole = len(outcome.data.get(field, "")) if isinstance(outcome.data.get(field), str) else len(full)
        data[field] = ""
        room = budget - sizes() - 60
        ratio = max(1, len(full)) / max(1, _text_cost(full))
        limit = max(0, int(room * ratio))
        cut = _cut_point(full, limit)
        while cut > 1 and _text_cost(full[:cut]) > room:
            cut = _cut_point(full, int(cut * 0.9))
        data[field] = full[:cut]
        if cut < len(full):
            rest_at = offset + cut
            if continuable:
                next_cursor = TextCursor(field, rest_at).encode()
                data["next_cursor"] = next_cursor
                note.append(
                    f"{field} is cut at character {rest_at} of {whole} (the answer budget); "
                    f"call {tool} again with cursor={next_cursor} for the rest."
                )
            else:
                note.append(f"{field} is cut at character {rest_at} of {whole} (the answer budget).")
    if sizes() > budget:
        _shrink_lists(data, budget, sizes, note)
    if note:
        data["notes"] = note
    if warnings:
        data["warnings"] = warnings
    if outcome.text is not None:
        body = [outcome.text]
    else:
        body = object_lines({k: v for k, v in data.items() if k not in ("notes", "warnings")})
    lines = [f"Warning: {w}" for w in warnings] + note + body
    return "\n".join(lines), with_euros(data)


def _small(
    outcome: Outcome, data: dict[str, Any], warnings: list[str], budget: int
) -> tuple[str, dict[str, Any]] | None:
    """The common case without estimating: a token is at least one UTF-8 byte, so views of at
    most `budget` bytes fit whatever they hold."""
    body = [outcome.text] if outcome.text is not None else object_lines(data)
    text = "\n".join([*(f"Warning: {w}" for w in warnings), *body])
    if warnings:
        data["warnings"] = warnings
    structured = with_euros(data)
    if len(text.encode()) <= budget - _RESERVE and len(compact(structured).encode()) <= budget - _RESERVE:
        return text, structured
    data.pop("warnings", None)
    return None


def _holds_items(value: Any) -> bool:
    """A non-empty list of objects (a board column's cards), not a list of ids or tags."""
    return isinstance(value, list) and any(isinstance(x, dict) for x in value)


def _leaf_lists(value: Any, found: list[tuple[dict[str, Any], str, list[Any]]]) -> None:
    """The lists that hold the items (not lists of containers such as a board's columns, whose
    own lists are the ones to shorten), with the dict that holds each."""
    if not isinstance(value, dict):
        return
    for key, item in value.items():
        if isinstance(item, dict):
            _leaf_lists(item, found)
        elif isinstance(item, list):
            if any(isinstance(x, dict) and any(_holds_items(v) for v in x.values()) for x in item):
                for x in item:
                    _leaf_lists(x, found)
            elif len(item) > 1:
                found.append((value, key, item))


def _shrink_lists(data: dict[str, Any], budget: int, sizes: Any, note: list[str]) -> None:
    """A result without a cursor that is still too large: its item lists (at any depth) keep the
    same share of their items, the largest share that fits, and a note says so."""
    full: list[tuple[dict[str, Any], str, list[Any]]] = []
    _leaf_lists(data, full)
    if not full:
        return

    def keep(share: float) -> None:
        for holder, key, items in full:
            holder[key] = items[: max(1, int(len(items) * share))]

    lo, hi = 0.0, 1.0
    for _ in range(14):  # binary search on the share
        mid = (lo + hi) / 2
        keep(mid)
        if sizes() <= budget - 40:
            lo = mid
        else:
            hi = mid
    keep(lo)
    shown: dict[str, list[int]] = {}
    for holder, key, items in full:
        counts = shown.setdefault(key, [0, 0])
        counts[0] += len(holder[key])
        counts[1] += len(items)
    for key, (kept, total) in shown.items():
        if kept < total:
            note.append(
                f"{key}: only the first {kept} of {total} fit the answer budget; narrow the request for the rest."
            )


def _enforce(text: str, structured: dict[str, Any], budget: int) -> tuple[str, dict[str, Any]]:
    """The last guard: whatever is still over the budget is cut at a line (text) or replaced
    by a note (structured), so no answer ever exceeds it."""
    if estimate_tokens(text) > budget:
        lines = text.split("\n")
        kept: list[str] = []
        used = 40
        for line in lines:
            cost = estimate_tokens(line) + 1
            if used + cost > budget:
                break
            kept.append(line)
            used += cost
        kept.append(f"[cut: the rest of this answer is over the {budget}-token budget]")
        text = "\n".join(kept)
    if estimate_tokens(compact(structured)) > budget:
        # keep what names the result (id, title, next_cursor, …) so the model can still refer to it
        small: dict[str, Any] = {
            k: v for k, v in structured.items() if isinstance(v, int | float | bool | str) and len(str(v)) <= 300
        }
        dropped = ", ".join(k for k in structured if k not in small)
        small["notes"] = [f"The full data is over the {budget}-token budget; see the text content for {dropped}."]
        if estimate_tokens(compact(small)) > budget:
            small = {"notes": [f"The full data is over the {budget}-token budget; see the text content."]}
        structured = small
    return text, structured


def render_outcome(
    tool: str,
    outcome: Outcome,
    *,
    sandbox: bool,
    budget: int = DEFAULT_BUDGET,
    continuable: bool = False,
) -> ToolResult:
    """A successful call as a result within `budget` tokens (text and structuredContent each)."""
    if outcome.window is not None:
        text, structured = _render_list(outcome, outcome.window, budget)
    else:
        text, structured = _render_object(outcome, budget, continuable, tool)
        if len(text.encode()) > budget or len(compact(structured).encode()) > budget:
            text, structured = _enforce(text, structured, budget)
    result = _result(text, structured, is_error=False, sandbox=sandbox)
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
