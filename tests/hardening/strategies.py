"""Hypothesis strategies from a tool's portable input schema, plus a catalogue of invalid calls.

`arguments(tool, ids)` draws schema-valid arguments (string/integer/number/boolean/array with
items/object with properties/enum/min/max/date-time), with ids mostly taken from the seeded
workspace so valid calls get past 404 some of the time. `invalid_cases(tool, base)` returns
(arguments, field) pairs that must be refused before any request: wrong types, missing
required, unknown fields, huge strings, lone surrogates, NUL, out-of-range numbers, enum
misses, ids that would change the path. `wrong_type(schema)` draws garbage of a wrong JSON
type, judged by a small oracle that does not reuse the server's validator.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from dversum_mcp.tools.registry import GeneratedTool
from tests.hardening.conftest import HOOK_URL, IdPool

__all__ = ["BAD_IDS", "arguments", "draw", "invalid_cases", "wrong_type"]

ID_RE = r"\A[A-Za-z0-9_-]{1,40}\Z"
SLUG_RE = r"\A[A-Za-z0-9][A-Za-z0-9_-]{0,30}\Z"
BAD_IDS = ("a/b", "..", "../clients", "%2F", "a%2Fb", "a?x=1", "a#b", " a", "a b", "a\tb", "a\nb", "a\x00b", "", "é")
_TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=40)
_JSON_SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), _TEXT)
_DOC = {
    "type": "doc",
    "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Fuzz"}]}],
}


def draw(strategy: st.SearchStrategy[Any], n: int) -> list[Any]:
    """Up to `n` deterministic examples of `strategy` (derandomized, generate phase only)."""
    out: list[Any] = []

    @settings(
        max_examples=n,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(value: Any) -> None:
        out.append(value)

    collect()
    return out


# ---- valid values -----------------------------------------------------------------------------
def _datetime() -> st.SearchStrategy[str]:
    base = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2032, 12, 31))
    zulu = base.map(lambda d: d.replace(microsecond=0).isoformat() + "Z")
    offset = st.tuples(base, st.integers(-12, 14)).map(
        lambda p: p[0].replace(microsecond=0, tzinfo=timezone(timedelta(hours=p[1]))).isoformat()
    )
    near = st.integers(-30 * 24, 30 * 24).map(
        lambda h: (
            (datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=h))
            .isoformat()
            .replace("+00:00", "Z")
        )
    )
    return st.one_of(zulu, offset, near, near)


def _date() -> st.SearchStrategy[str]:
    today = datetime.now(UTC).date()
    near = st.integers(-90, 90).map(lambda d: (today + timedelta(days=d)).isoformat())
    return st.one_of(st.dates(min_value=datetime(1990, 1, 1).date()).map(lambda d: d.isoformat()), near, near)


def _integer(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    low, high = schema.get("minimum"), schema.get("maximum")
    small = st.integers(
        min_value=int(low) if low is not None else -1000, max_value=int(high) if high is not None else 100_000
    )
    huge = st.integers(
        min_value=int(low) if low is not None else None, max_value=int(high) if high is not None else None
    )
    return st.one_of(small, small, small, huge, small.map(str))  # "8" is accepted leniently


def _number(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    low, high = schema.get("minimum"), schema.get("maximum")
    return st.one_of(
        st.floats(min_value=low, max_value=high, allow_nan=False, allow_infinity=False),
        st.integers(
            min_value=int(low) if low is not None else -1000, max_value=int(high) if high is not None else 1000
        ),
    )


_NAMED: dict[str, st.SearchStrategy[Any]] = {
    "email": st.one_of(st.emails(), _TEXT),
    "signer_email": st.one_of(st.emails(), _TEXT),
    "url": st.one_of(st.just(HOOK_URL), st.just("https://hooks.example.invalid/dversum"), _TEXT),
    "duration": st.one_of(st.sampled_from(["1h", "90m", "1h30m", "2:15", "0m", "25h"]), _TEXT),
    "start": st.one_of(st.sampled_from(["09:00", "13:30"]), _TEXT),
    "end": st.one_of(st.sampled_from(["17:00", "12:00"]), _TEXT),
    "color": st.one_of(st.sampled_from(["#1E88E5", "#fff"]), _TEXT),
    "country": st.one_of(st.sampled_from(["DE", "AT", "FR"]), _TEXT),
    "content_base64": st.binary(max_size=256).map(lambda b: base64.b64encode(b).decode()),
    "content_json": st.one_of(st.just(_DOC), st.dictionaries(_TEXT, _JSON_SCALAR, max_size=3)),
    "path": st.sampled_from(["/etc/passwd", "notes.txt", "../../secret", "~/.ssh/id_rsa"]),
    "save_as": st.sampled_from(["/tmp/dversum-fuzz-never.pdf", "out.pdf", "../x.pdf"]),
    "filename": st.one_of(st.just("notiz.txt"), _TEXT),
}


def value(schema: dict[str, Any], name: str = "", kind: str | None = None, ids: IdPool | None = None) -> Any:
    """A strategy for one valid value of `schema` (top-level params may pass their table type)."""
    if kind in ("id", "slug"):
        pattern = ID_RE if kind == "id" else SLUG_RE
        pool = (ids.by_arg.get(name) if ids else None) or []
        if name == "signing_token" and ids:
            pool = ids.signing_tokens
        random_id = st.from_regex(pattern)
        return st.one_of(st.sampled_from(pool), st.sampled_from(pool), random_id) if pool else random_id
    if kind == "ids":
        pool = (ids.by_arg.get(name) if ids else None) or []
        item = st.one_of(st.sampled_from(pool), st.from_regex(ID_RE)) if pool else st.from_regex(ID_RE)
        return st.lists(item, max_size=3)
    if kind == "date":
        return _date()
    if name in _NAMED and "enum" not in schema and "format" not in schema:
        return _NAMED[name]
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind_ = schema.get("type")
    if kind_ == "string":
        if schema.get("format") == "date-time":
            return _datetime()
        if "YYYY-MM-DD = whole day" in schema.get("description", ""):  # a window bound: date-time or a day
            return st.one_of(_datetime(), _date())
        low, high = schema.get("minLength", 0), min(schema.get("maxLength", 60), 60)
        return st.text(
            st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), min_size=low, max_size=max(low, high)
        )
    if kind_ == "integer":
        return _integer(schema)
    if kind_ == "number":
        return _number(schema)
    if kind_ == "boolean":
        return st.one_of(st.booleans(), st.booleans(), st.sampled_from(["true", "false"]))
    if kind_ == "array":
        items = value(schema.get("items", {"type": "string"}), name)
        return st.lists(items, min_size=schema.get("minItems", 0), max_size=3)
    if kind_ == "object":
        if "properties" not in schema:
            return st.dictionaries(_TEXT, _JSON_SCALAR, max_size=3)
        return _object(schema, lambda n, s: value(s, n))
    raise AssertionError(f"schema type outside the portable subset: {schema}")


def _object(schema: dict[str, Any], leaf: Callable[[str, dict[str, Any]], Any]) -> st.SearchStrategy[dict[str, Any]]:
    props: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    return st.fixed_dictionaries(
        {n: leaf(n, s) for n, s in props.items() if n in required},
        optional={n: leaf(n, s) for n, s in props.items() if n not in required},
    )


def arguments(tool: GeneratedTool, ids: IdPool) -> st.SearchStrategy[dict[str, Any]]:
    """Valid arguments for `tool`; multi-id paths often get a consistent pair (task + its subtask)."""
    types = {p.name: p.type for p in tool.spec.params}
    base = _object(tool.schema, lambda n, s: value(s, n, types.get(n), ids))
    names = set(tool.schema["properties"])
    pairs = [pair for (a, b), pair in ids.pairs.items() if {a, b} <= names for pair in [(a, b)]]
    if {"user_slug", "type_slug"} <= names and ids.slugs:
        return st.tuples(base, st.sampled_from(ids.slugs), st.booleans()).map(
            lambda t: {**t[0], "user_slug": t[1][0], "type_slug": t[1][1]} if t[2] else t[0]
        )
    if not pairs or not ids.pairs[pairs[0]]:
        return base
    (parent, child) = pairs[0]
    return st.tuples(base, st.sampled_from(ids.pairs[(parent, child)]), st.booleans()).map(
        lambda t: {**t[0], parent: t[1][0], child: t[1][1]} if t[2] else t[0]
    )


# ---- invalid values ---------------------------------------------------------------------------
def _int_like(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return True
    if isinstance(v, float):
        return v.is_integer()
    return isinstance(v, str) and re.fullmatch(r"[+-]?\d+", v.strip()) is not None


def _num_like(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, int | float):
        return v == v and v not in (float("inf"), float("-inf"))
    if isinstance(v, str) and v.strip():
        try:
            f = float(v.strip())
        except ValueError:
            return False
        return f == f and abs(f) != float("inf")
    return False


_WRONG: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: not isinstance(v, str),
    "integer": lambda v: not _int_like(v),
    "number": lambda v: not _num_like(v),
    "boolean": lambda v: not (isinstance(v, bool) or (isinstance(v, str) and v.strip().lower() in ("true", "false"))),
    "array": lambda v: not isinstance(v, list) and not (isinstance(v, str) and v.strip().startswith("[")),
    "object": lambda v: not isinstance(v, dict) and not (isinstance(v, str) and v.strip().startswith("{")),
}
_GARBAGE = st.one_of(
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    _TEXT,
    st.lists(_JSON_SCALAR, max_size=2),
    st.dictionaries(_TEXT, _JSON_SCALAR, max_size=2),
)


def wrong_type(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values of a JSON type the schema does not accept (an independent oracle decides)."""
    wrong = _WRONG[schema["type"]]
    return _GARBAGE.filter(lambda v: v is not None and wrong(v))


_FIXED_WRONG: dict[str, tuple[Any, ...]] = {
    "string": (12345, ["x"], {"a": 1}, True, 1.5),
    "integer": ("abc", 1.5, [1], True, {"n": 1}, "1e3", "nan"),
    "number": ("abc", [1], True, {}, "nan", "inf"),
    "boolean": ("maybe", 1, 0, [True], "yes"),
    "array": (5, "not json", {"a": 1}, True, "[unclosed"),
    "object": (5, "x", [1], True, "{broken"),
}


def invalid_cases(tool: GeneratedTool, base: dict[str, Any]) -> list[tuple[str, dict[str, Any], str]]:
    """(label, arguments, field that the error must name), each with exactly one defect."""
    schema = tool.schema
    props: dict[str, Any] = schema["properties"]
    types = {p.name: p.type for p in tool.spec.params}
    out: list[tuple[str, dict[str, Any], str]] = [("unknown field", {**base, "zz_not_a_field": 1}, "zz_not_a_field")]
    for name in schema["required"]:
        args = {k: v for k, v in base.items() if k != name}
        out.append((f"missing {name}", args, name))
        out.append((f"null {name}", {**args, name: None}, name))
    for name, sub in props.items():
        kind = types.get(name)
        for bad in _FIXED_WRONG[sub["type"]]:
            out.append((f"wrong type {name}={bad!r}", {**base, name: bad}, name))
        if sub["type"] == "string":
            out.append((f"huge {name}", {**base, name: "x" * 1_000_001}, name))
            out.append((f"NUL {name}", {**base, name: "ab\x00cd"}, name))
            out.append((f"lone surrogate {name}", {**base, name: "ab\ud800cd"}, name))
            out.append((f"lone low surrogate {name}", {**base, name: "\udfff"}, name))
        if "enum" in sub:
            out.append((f"enum miss {name}", {**base, name: "definitely-not-an-option"}, name))
        if "minimum" in sub:
            out.append((f"below minimum {name}", {**base, name: sub["minimum"] - 1}, name))
            if sub["minimum"] == 0:
                out.append((f"negative cents {name}", {**base, name: -1250}, name))
        if "maximum" in sub:
            out.append((f"above maximum {name}", {**base, name: sub["maximum"] + 1}, name))
        if "maxLength" in sub:
            out.append((f"too long {name}", {**base, name: "y" * (sub["maxLength"] + 1)}, name))
        if kind in ("id", "slug"):
            for bad in BAD_IDS:
                out.append((f"bad id {name}={bad!r}", {**base, name: bad}, name))
        if kind == "ids":
            out.append((f"bad ids {name}", {**base, name: ["okid", "a/../b"]}, f"{name}[1]"))
        if kind == "date":
            for bad in ("2026-02-30", "tomorrow", "2026/01/05", "20260105"):
                out.append((f"bad date {name}={bad!r}", {**base, name: bad}, name))
        if sub.get("format") == "date-time":
            for bad in ("2026-06-04T09:00:00", "yesterday", "2026-13-01T00:00:00Z"):
                out.append((f"bad date-time {name}={bad!r}", {**base, name: bad}, name))
        items = sub.get("items") if sub["type"] == "array" else None
        if items and items.get("type") == "object":
            req = items.get("required", [])
            one = {r: _sample_leaf(items["properties"][r]) for r in req}
            if req:
                out.append(
                    (
                        f"nested missing {name}",
                        {**base, name: [{k: v for k, v in one.items() if k != req[0]}]},
                        f"{name}[0].{req[0]}",
                    )
                )
            out.append((f"nested unknown {name}", {**base, name: [{**one, "zz": 1}]}, f"{name}[0].zz"))
            first = next(iter(items["properties"]))
            out.append(
                (f"nested wrong type {name}", {**base, name: [{**one, first: {"deep": [1]}}]}, f"{name}[0].{first}")
            )
    return out


def _sample_leaf(schema: dict[str, Any]) -> Any:
    if "enum" in schema:
        return schema["enum"][0]
    return {"string": "x", "integer": 1, "number": 1, "boolean": True, "array": [], "object": {}}[schema["type"]]
