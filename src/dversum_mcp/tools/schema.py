"""Table entry → portable JSON Schema, and argument decoding + validation against it.

The schema subset is what every mainstream client accepts: top-level `type: object`, no
`$ref`/`$defs`/`anyOf`/`oneOf`/`allOf`, one `type` per property, `items` on every array,
string enums, `required` always a list, no exclusive bounds, only the `date-time` format.

Validation is lenient where clients are known to be sloppy and strict elsewhere: an
object/array sent as a JSON string is decoded, `"8"` is an integer and `"true"` a boolean,
`null` means "not given"; anything else that does not fit is an `ArgumentError` naming the
field and the rule. Ids must be one safe path segment, so no argument can change the path.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dversum_mcp.api.errors import ArgumentError
from dversum_mcp.tools.manifest import Manifest, ParamSpec, ToolSpec

__all__ = ["ID_PATTERN", "day_bound", "input_schema", "validate_arguments"]

ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
SLUG_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_INT = re.compile(r"^[+-]?\d+$")
_INDEX = re.compile(r"(\[\d+\])+$")
_EUROS = re.compile(r"^[+-]?(\d+[.,]\d+|\d{1,3}(\.\d{3})+,\d+)\s*€?$")
_BERLIN = ZoneInfo("Europe/Berlin")
_MAX_STRING = 1_000_000
_MARGIN = timedelta(days=2)


def _scalar_schema(kind: str) -> dict[str, Any]:
    return {"type": kind}


def _param_schema(param: ParamSpec, manifest: Manifest) -> dict[str, Any]:
    kind = param.type
    schema: dict[str, Any]
    description = param.description
    if kind in ("id", "slug"):
        schema = {"type": "string"}
    elif kind == "ids":
        schema = {"type": "array", "items": {"type": "string"}}
    elif kind == "date":
        schema = {"type": "string"}
        if not description or "YYYY-MM-DD" not in description:
            description = f"YYYY-MM-DD; {description}" if description else "YYYY-MM-DD"
    elif kind == "datetime" and param.days is not None:
        schema = {"type": "string"}  # a plain date is allowed too, so no date-time format
        note = "date-time, or YYYY-MM-DD = whole day in Europe/Berlin"
        description = f"{description}; {note}" if description else note
    elif kind == "datetime":
        schema = {"type": "string", "format": "date-time"}
    elif kind == "cents":
        schema = {"type": "integer", "minimum": 0}
    elif kind == "array":
        schema = {"type": "array", "items": _items_schema(param.items or "string", manifest)}
    elif kind == "object":
        schema = _object_schema(manifest.types[param.object], manifest) if param.object else {"type": "object"}
    else:
        schema = {"type": kind}
    if description:
        schema["description"] = description
    if param.enum is not None:
        schema["enum"] = list(param.enum)
    for key in ("minimum", "maximum"):
        value = getattr(param, key)
        if value is not None:
            schema[key] = int(value) if float(value).is_integer() else value
    for key in ("minLength", "maxLength", "minItems"):
        value = getattr(param, key)
        if value is not None:
            schema[key] = value
    return schema


def _items_schema(name: str, manifest: Manifest) -> dict[str, Any]:
    if name in ("string", "integer", "number", "boolean"):
        return _scalar_schema(name)
    spec = manifest.types[name]
    if spec.get("type", "object") == "object":
        return _object_schema(spec, manifest)
    out: dict[str, Any] = {"type": spec["type"]}
    if "enum" in spec:
        out["enum"] = list(spec["enum"])
    return out


def _object_schema(spec: Mapping[str, Any], manifest: Manifest) -> dict[str, Any]:
    props: tuple[ParamSpec, ...] = spec.get("properties", ())
    out: dict[str, Any] = {
        "type": "object",
        "properties": {p.name: _param_schema(p, manifest) for p in props},
        "required": list(spec.get("required", [])),
    }
    return out


def input_schema(tool: ToolSpec, manifest: Manifest) -> dict[str, Any]:
    """The tool's `inputSchema`, self-contained and in the portable subset."""
    return {
        "type": "object",
        "properties": {p.name: _param_schema(p, manifest) for p in tool.params},
        "required": [p.name for p in tool.params if p.required],
    }


# ---- validation -------------------------------------------------------------------------------
def _decode_json_string(value: Any, expected: str) -> Any:
    """An object/array that arrives as a JSON-encoded string is decoded (a known client bug)."""
    if isinstance(value, str):
        text = value.strip()
        if (expected == "object" and text.startswith("{")) or (expected == "array" and text.startswith("[")):
            try:
                return json.loads(text)
            except (ValueError, RecursionError):  # not JSON, or nested beyond the decoder: refused as a string
                return value
    return value


def _check(value: Any, schema: Mapping[str, Any], path: str) -> Any:
    """Coerce leniently, then validate `value` against `schema`; return the clean value."""
    kind = schema.get("type")
    if kind == "integer":
        if _INDEX.sub("", path).endswith("_cents"):  # also each item of a list of cents
            _check_cents(value, path)
        if isinstance(value, str) and _INT.match(value.strip()):
            value = int(value.strip())
        elif isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ArgumentError(f"{path} must be an integer, got {_show(value)}", field=path)
    elif kind == "number":
        if isinstance(value, str) and value.strip():
            with contextlib.suppress(ValueError):
                value = float(value.strip())
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ArgumentError(f"{path} must be a number, got {_show(value)}", field=path)
    elif kind == "boolean":
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            value = value.strip().lower() == "true"
        if not isinstance(value, bool):
            raise ArgumentError(f"{path} must be true or false, got {_show(value)}", field=path)
    elif kind == "string":
        if not isinstance(value, str):
            raise ArgumentError(f"{path} must be a string, got {_show(value)}", field=path)
        if "\x00" in value:
            raise ArgumentError(f"{path} must not contain NUL characters", field=path)
        if not _is_utf8(value):
            raise ArgumentError(f"{path} contains invalid Unicode (a lone surrogate); send valid text", field=path)
        if len(value) > _MAX_STRING:
            raise ArgumentError(f"{path} is too long ({len(value)} characters; at most {_MAX_STRING})", field=path)
        if schema.get("format") == "date-time":
            _check_datetime(value, path)
    elif kind == "array":
        value = _decode_json_string(value, "array")
        if not isinstance(value, list):
            raise ArgumentError(f"{path} must be an array, got {_show(value)}", field=path)
        items = schema.get("items", {})
        value = [_check(v, items, f"{path}[{i}]") for i, v in enumerate(value)]
        if "minItems" in schema and len(value) < schema["minItems"]:
            raise ArgumentError(f"{path} needs at least {schema['minItems']} item(s)", field=path)
    elif kind == "object":
        value = _decode_json_string(value, "object")
        if not isinstance(value, dict):
            raise ArgumentError(f"{path} must be an object, got {_show(value)}", field=path)
        if "properties" in schema:
            value = _check_object(value, schema, path + ".")
    if "enum" in schema and value not in schema["enum"]:
        raise ArgumentError(
            f"{path} must be one of {', '.join(map(str, schema['enum']))}; got {_show(value)}", field=path
        )
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            raise ArgumentError(f"{path} must be ≥ {schema['minimum']}, got {value}", field=path)
        if "maximum" in schema and value > schema["maximum"]:
            raise ArgumentError(f"{path} must be ≤ {schema['maximum']}, got {value}", field=path)
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            raise ArgumentError(f"{path} must have at least {schema['minLength']} characters", field=path)
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise ArgumentError(f"{path} must have at most {schema['maxLength']} characters", field=path)
    return value


def _check_object(value: Mapping[str, Any], schema: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    props: Mapping[str, Any] = schema.get("properties", {})
    unknown = [k for k in value if k not in props]
    if unknown:
        names = ", ".join(sorted(props))
        key = _printable(f"{prefix}{unknown[0]}")
        raise ArgumentError(f"unknown argument {key}; valid: {names}", field=key)
    out: dict[str, Any] = {}
    for name, item in value.items():
        if item is None:
            continue  # null means "not given"
        out[name] = _check(item, props[name], f"{prefix}{name}")
    missing = [r for r in schema.get("required", []) if r not in out]
    if missing:
        raise ArgumentError(f"{prefix}{missing[0]} is required", field=f"{prefix}{missing[0]}")
    return out


def _check_cents(value: Any, path: str) -> None:
    """Money is integer cents: 500.00 is refused (it reads as euros), with the cents it probably meant."""
    number: float | None = None
    if isinstance(value, float):
        number = value
    elif isinstance(value, str) and _EUROS.match(value.strip()):
        text = value.strip().rstrip("€").strip()
        if "," in text:  # German: 1.190,00
            text = text.replace(".", "").replace(",", ".")
        number = float(text)
    if number is None or not math.isfinite(number):
        return
    euros = (
        f"{number:,.2f}".translate(str.maketrans(",.", ".,"))
        if isinstance(value, str) and "," in value
        else (f"{number:.2f}")
    )
    raise ArgumentError(
        f"{path} must be an integer (cents), got {_show(value)}",
        field=path,
        hint=f"cents are integers: {euros} € is {round(number * 100)}",
    )


def day_bound(value: str, which: str) -> str:
    """YYYY-MM-DD → the UTC instant where that Europe/Berlin day starts (or, for "end", ends).

    Raises ValueError for a day whose bound is not a representable instant (year 1 or 9999)."""
    try:
        day = date.fromisoformat(value)
        if which == "end":
            day += timedelta(days=1)
        local = datetime(day.year, day.month, day.day, tzinfo=_BERLIN)
        return _in_range(local).strftime("%Y-%m-%dT%H:%M:%SZ")
    except OverflowError:
        raise ValueError(f"{value} is out of range") from None


def _in_range(instant: datetime) -> datetime:
    """`instant` in UTC, if it and a margin of two days either side are representable (a window
    bound is widened by a day, a duration added); OverflowError otherwise."""
    utc = instant.astimezone(UTC)
    _ = (utc - _MARGIN, utc + _MARGIN)
    return utc


def _check_datetime(value: str, path: str) -> None:
    text = value.strip()
    candidate = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        raise ArgumentError(
            f"{path} must be an ISO 8601 date-time like 2026-06-04T09:00:00Z, got {_show(value)}", field=path
        ) from None
    if parsed.tzinfo is None:
        raise ArgumentError(f"{path} needs a time zone (Z or +02:00): {_show(value)}", field=path)
    try:
        _in_range(parsed)
    except OverflowError:
        raise ArgumentError(
            f"{path} is out of range: {_show(value)}", field=path, hint="Use a date between the years 0002 and 9998."
        ) from None


def _check_typed(param: ParamSpec, value: Any, path: str) -> None:
    """Rules the portable schema cannot say: ids are safe path segments, dates are real dates."""
    if param.type in ("id", "slug"):
        pattern = ID_PATTERN if param.type == "id" else SLUG_PATTERN
        if not pattern.match(value):
            raise ArgumentError(
                f"{path} must be an id: letters, digits, '-' or '_' only (no '/', '.', '%', spaces); "
                f"got {_show(value)}",
                field=path,
            )
    elif param.type == "ids":
        for i, item in enumerate(value):
            if not ID_PATTERN.match(item):
                raise ArgumentError(f"{path}[{i}] must be an id; got {_show(item)}", field=f"{path}[{i}]")
    elif param.type == "datetime" and param.days is not None and not _DATE.match(value.strip()):
        _check_datetime(value, path)
    elif param.type == "date":
        if not _DATE.match(value):
            raise ArgumentError(f"{path} must be a date YYYY-MM-DD, got {_show(value)}", field=path)
        try:
            date.fromisoformat(value)
        except ValueError:
            raise ArgumentError(f"{path} is not a valid calendar date: {value}", field=path) from None


def validate_arguments(
    tool: ToolSpec, schema: Mapping[str, Any], arguments: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Decode and validate a call's arguments; raise `ArgumentError` naming the field."""
    raw: Any = arguments or {}
    if isinstance(raw, str):
        raw = _decode_json_string(raw, "object")
    if not isinstance(raw, Mapping):
        raise ArgumentError("arguments must be a JSON object")
    clean = _check_object(raw, schema, "")
    for name, value in clean.items():
        param = tool.param(name)
        if param is not None:
            _check_typed(param, value, name)
            if param.days is not None and _DATE.match(value.strip()):
                try:
                    clean[name] = day_bound(value.strip(), param.days)
                except ValueError:
                    raise ArgumentError(
                        f"{name} is not a valid calendar date in range: {value}",
                        field=name,
                        hint="Use a date between the years 0002 and 9998.",
                    ) from None
    return clean


def _is_utf8(text: str) -> bool:
    """False for strings with lone surrogates (JSON allows the escape; UTF-8 and the API do not)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(text: str) -> str:
    """A name safe to echo back: lone surrogates escaped, at most 100 characters."""
    safe = text if _is_utf8(text) else text.encode("utf-8", "backslashreplace").decode("utf-8")
    return safe if len(safe) <= 100 else safe[:97] + "…"


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str) if not isinstance(value, str) else json.dumps(value)
    if not _is_utf8(text):
        text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "…"
