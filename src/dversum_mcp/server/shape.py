"""Data as it goes into a result: pruned of nulls and empties, nested copies reduced, as JSON.

`compact` is the JSON form (what the token budget counts for `structuredContent`); `slim` is one
item for `structuredContent`: every field with a value, and a nested object that an id field
already names (`project_id` + `project: {id, name}`) reduced to its name. `with_euros` puts each
amount in German format beside its cents, since some clients give the model only this view.
"""

from __future__ import annotations

from typing import Any

import pydantic_core

from dversum_mcp.server.text import euros

__all__ = ["compact", "slim", "to_json", "with_euros"]

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


def slim(item: Any) -> Any:
    """An item for `structuredContent`: no nulls or empties, and a nested object that an id field
    already names (`project_id` + `project: {id, name}`) reduced to its name."""
    item = _prune(item)
    if not isinstance(item, dict):
        return item
    for key, value in item.items():
        cls = type(value)
        if cls is dict:
            if value.get("id") is not None and item.get(f"{key}_id") == value["id"]:
                name = _named(value)
                if name is not None:
                    item[key] = name
        elif cls is list and isinstance(item.get(key[:-1] + "_ids"), list):
            names = [_named(v) if type(v) is dict else None for v in value]
            if all(isinstance(n, str) for n in names):
                item[key] = names
    return item


def _named(value: dict[str, Any]) -> str | None:
    """The name of a nested {id, name} (or title/number) object that holds nothing else."""
    name = None
    for k, v in value.items():
        if k in ("name", "title", "number") and isinstance(v, str):
            name = name or v
        elif k not in ("id", "email"):
            return None
    return name


def to_json(value: Any) -> str:
    """Compact JSON of data that is already pruned."""
    return pydantic_core.to_json(value, fallback=str).decode()


def with_euros(value: Any, currency: str | None = None) -> Any:
    """`structuredContent` as a model reads it: beside every whole `X_cents` the amount in German
    format under `X` (`"total_gross_cents": 119000, "total_gross": "1.190,00 €"`), also in nested
    objects and lists (line items), unless `X` is a field of its own or the amount is 0. Claude
    Code and VS Code give the model only `structuredContent` when a result has it, so the euros of
    the text view must be here too. A new structure; the input is not changed."""
    if isinstance(value, list):
        return [with_euros(item, currency) for item in value]
    if not isinstance(value, dict):
        return value
    own = value.get("currency")
    currency = own if isinstance(own, str) else currency
    out: dict[Any, Any] = {}
    for key, item in value.items():
        out[key] = with_euros(item, currency) if isinstance(item, dict | list) else item
        if type(item) is int and item and isinstance(key, str) and key.endswith("_cents"):  # 0 is 0 either way
            base = key[: -len("_cents")]
            if base and base not in value:
                out[base] = euros(item, currency)
    return out
