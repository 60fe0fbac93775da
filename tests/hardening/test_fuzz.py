"""Argument fuzzing: every tool (all generated tools + discovery tools) through the SDK client.

For each tool, hypothesis draws schema-valid arguments (ids mostly real, from a seeded
workspace) and a catalogue of invalid ones, and every call goes through `Client.call_tool`
against the in-process sandbox. Proven per call: a `CallToolResult` comes back (no protocol
error, no crash result); an invalid call is refused with the field named and without any
HTTP request; a valid call never gets a 500 from the sandbox; every request path is the
tool's template with each placeholder exactly one id segment (no argument moves the path).
CI draws a handful per tool (derandomized); DVERSUM_LONG_TESTS=1 or bench/fuzz_long.py more.
"""

from __future__ import annotations

import contextlib
import random
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import pytest
from hypothesis import strategies as st
from mcp import Client
from mcp_types import CallToolResult

from dversum_mcp.config import Secret, Settings
from dversum_mcp.server.discovery import META_TOOLS
from dversum_mcp.tools.manifest import PLACEHOLDER
from dversum_mcp.tools.registry import GeneratedTool, Registry
from dversum_sandbox.app import API_PREFIX, endpoints
from tests.hardening.conftest import LONG, SUMMARY, IdPool, Seeded, Template
from tests.hardening.strategies import arguments, draw, invalid_cases, wrong_type

pytestmark = pytest.mark.anyio

VALID_PER_TOOL = 60 if LONG else 7
INVALID_PER_TOOL = None if LONG else 16
GARBAGE_PER_TOOL = 40 if LONG else 3
TOOLS = sorted(n for n, t in Registry().tools.items() if not t.spec.multi_user_only)
SEGMENT = r"[A-Za-z0-9_-]{1,128}"
LINK_SEGMENT = r"[A-Za-z0-9_.~-]{1,256}"  # signed download links carry dots; "/." is refused separately


def _route(path: str, segment: str) -> re.Pattern[str]:
    escaped = re.escape(API_PREFIX + path).replace(r"\{", "{").replace(r"\}", "}")
    return re.compile("^" + PLACEHOLDER.sub(lambda m: f"(?P<{m.group(1)}>{segment})", escaped) + "$")


# Sandbox routes (method, regex) that hooks may call besides their own template.
ROUTES = [(ep.method, _route(ep.path, LINK_SEGMENT)) for ep in endpoints()]
# Sandbox 500s found by this suite in modules owned by another engineer: tool → bug (xfail, reported).
KNOWN_500: dict[str, str] = {}


class Stats:
    def __init__(self) -> None:
        self.calls = Counter[str]()
        self.outcomes = Counter[str]()
        self.rejected = Counter[str]()


@pytest.fixture(scope="module")
def stats() -> Iterator[Stats]:
    out = Stats()
    yield out
    SUMMARY["fuzz"] = (
        f"{sum(out.calls.values())} calls fuzzed ({dict(out.calls)}); valid-call outcomes: "
        f"{dict(out.outcomes.most_common(14))}"
        f"; valid calls refused locally by hooks: {dict(out.rejected)}"
    )


@pytest.fixture(scope="module")
def pool(seeded_template: Template) -> IdPool:
    return IdPool.load(seeded_template.data_dir / "sandbox.sqlite3", seeded_template.org_id)


def _template(tool: GeneratedTool) -> re.Pattern[str] | None:
    return None if tool.spec.path is None else _route(tool.spec.path, SEGMENT)


def _minimal(tool: GeneratedTool, ids: IdPool) -> dict[str, Any]:
    """One valid argument set: every required argument with a plain value."""
    out: dict[str, Any] = {}
    for param in tool.spec.params:
        if not param.required:
            continue
        schema = tool.schema["properties"][param.name]
        if param.type in ("id", "slug"):
            out[param.name] = (ids.by_arg.get(param.name) or ["abc123"])[0]
        elif param.type == "date":
            out[param.name] = "2026-06-04"
        elif schema.get("format") == "date-time" or param.days is not None:
            out[param.name] = "2026-06-04T09:00:00Z"
        elif "enum" in schema:
            out[param.name] = schema["enum"][0]
        elif schema["type"] == "array":
            items = schema["items"]
            if items.get("type") == "object":
                out[param.name] = [{"description": "Beratung", "quantity": 1, "unit_price_cents": 100, "tax_rate": 19}]
            else:
                out[param.name] = [items["enum"][0]] if "enum" in items else ["x"]
        else:
            out[param.name] = {"string": "Fuzz", "integer": max(1, schema.get("minimum", 1)), "number": 1,
                               "boolean": True, "object": {}}[schema["type"]]  # fmt: skip
    return out


class Caller:
    """Calls one tool and checks the invariants every call must keep."""

    def __init__(self, client: Client, seeded: Seeded, tool: GeneratedTool | None, stats: Stats) -> None:
        self.client, self.seeded, self.tool, self.stats = client, seeded, tool, stats
        self.template = _template(tool) if tool else None
        self.server_errors: list[str] = []

    async def call(self, name: str, args: Any) -> tuple[CallToolResult, list[Any], list[tuple[str, str, int]]]:
        before, statuses_before = len(self.seeded.requests), len(self.seeded.statuses)
        try:
            result = await self.client.call_tool(name, args)
        except Exception as exc:  # a protocol error instead of a result
            pytest.fail(f"{name}({_show(args)}) raised {type(exc).__name__}: {exc}")
        assert isinstance(result, CallToolResult), (name, args, result)
        data = result.structured_content or {}
        assert data.get("error") != "internal_error", f"{name}({_show(args)}) crashed the server: {result.content}"
        sent = self.seeded.requests[before:]
        answered = self.seeded.statuses[statuses_before:]
        for method, path, status in answered:
            if status >= 500:
                self.server_errors.append(f"{method} {path} → {status} for {name}({_show(args)})")
        self._check_paths(name, args, sent)
        return result, sent, answered

    def _check_paths(self, name: str, args: Any, sent: list[Any]) -> None:
        for request in sent:
            raw = request.url.raw_path.decode("ascii")
            path = raw.split("?", 1)[0]
            assert "%" not in path and "/." not in path, f"{name}: path {path!r} was altered by arguments"
            if self.template is not None and self.tool is not None and self.tool.spec.hook is None:
                match = self.template.match(path)
                assert match and request.method == self.tool.spec.method, f"{name}: {request.method} {path}"
                inner = args.get("arguments", args) if name in META_TOOLS else args
                for param in self.tool.spec.params:
                    if param.where == "path" and isinstance(inner, dict) and param.name in inner:
                        assert match.group(param.wire_name) == str(inner[param.name]), (name, path, inner)
                allowed = {p.wire_name for p in self.tool.spec.params if p.where == "query"} | {"page", "per_page"}
                keys = {k for k, _ in parse_qsl(raw.split("?", 1)[1] if "?" in raw else "", keep_blank_values=True)}
                assert keys <= allowed, f"{name}: query keys {keys - allowed} were injected"
            else:
                routed = any(m == request.method and rx.match(path) for m, rx in ROUTES)
                assert routed, f"{name}: {request.method} {path} is no API route"


def _show(args: Any) -> str:
    text = repr(args)
    return text if len(text) < 300 else text[:300] + "…"


def _settings() -> Settings:
    return Settings(token=Secret(""), confirm=False)


def _refused(result: CallToolResult, field: str, label: str, sent: list[Any]) -> None:
    data = result.structured_content or {}
    assert result.is_error, f"{label}: accepted: {data}"
    assert data.get("error") == "invalid_arguments", f"{label}: {data}"
    assert data.get("field") == field or field in str(data.get("message")), (
        f"{label}: field {field!r} not named: {data}"
    )
    assert not sent, f"{label}: {len(sent)} request(s) were sent before refusing"


@pytest.mark.parametrize("name", TOOLS)
async def test_fuzz_tool(name: str, seeded: Seeded, pool: IdPool, stats: Stats) -> None:
    tool = seeded.registry.tools[name]
    valid = draw(arguments(tool, pool), VALID_PER_TOOL)
    base = _minimal(tool, pool)
    cases = invalid_cases(tool, base)
    if INVALID_PER_TOOL is not None and len(cases) > INVALID_PER_TOOL:
        rng = random.Random(name)
        cases = cases[:3] + rng.sample(cases[3:], INVALID_PER_TOOL - 3)
    props = tool.schema["properties"]
    if props:
        garbage = draw(
            st.sampled_from(sorted(props)).flatmap(lambda p: st.tuples(st.just(p), wrong_type(props[p]))),
            GARBAGE_PER_TOOL,
        )
        cases += [(f"garbage {p}={v!r}", {**base, p: v}, p) for p, v in garbage]
    async with seeded.mcp(settings=_settings(), wrap=seeded.recorder) as client:
        caller = Caller(client, seeded, tool, stats)
        for label, args, field in cases:
            result, sent, _ = await caller.call(name, args)
            _refused(result, field, f"{name} {label}", sent)
            stats.calls["invalid"] += 1
        for args in [base, *valid]:
            result, _, _ = await caller.call(name, args)
            stats.calls["valid"] += 1
            data = result.structured_content or {}
            outcome = "ok" if not result.is_error else f"{data.get('error')}/{data.get('status', '-')}"
            if data.get("error") == "invalid_arguments":  # only a hook's own rules may refuse a schema-valid call
                # a cursor is state only the server hands out: a made-up one must be refused
                assert tool.spec.hook or data.get("field") in ("save_as", "cursor"), f"{name}({_show(args)}): {data}"
                stats.rejected[f"{name}.{data.get('field')}"] += 1
            stats.outcomes[outcome] += 1
    if caller.server_errors:
        if name in KNOWN_500:
            pytest.xfail(f"{KNOWN_500[name]}: {caller.server_errors[0]}")
        pytest.fail("sandbox answered 5xx:\n" + "\n".join(caller.server_errors[:5]))


META_VALID: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "search_tools": st.fixed_dictionaries(
        {"query": st.text(min_size=1, max_size=40).filter(str.strip)}, optional={"limit": st.integers(1, 20)}
    ),
    "describe_tool": st.fixed_dictionaries({"name": st.one_of(st.sampled_from(TOOLS), st.text(max_size=20))}),
    "list_toolsets": st.just({}),
    "enable_toolset": st.fixed_dictionaries(
        {
            "toolset": st.sampled_from(
                list(META_TOOLS["enable_toolset"].definition.input_schema["properties"]["toolset"]["enum"])
            )
        }
    ),
}
META_INVALID: dict[str, list[tuple[dict[str, Any], str]]] = {
    "search_tools": [({}, "query"), ({"query": 5}, "query"), ({"query": "  "}, "query"), ({"query": "x", "limit": 0}, "limit"),  # noqa: E501
                     ({"query": "x", "limit": "many"}, "limit"), ({"query": "x", "limit": 21}, "limit")],
    "describe_tool": [({}, "name"), ({"name": "no_such_tool"}, "name"), ({"name": ["get_client"]}, "name")],
    "enable_toolset": [({}, "toolset"), ({"toolset": "nope"}, "toolset"), ({"toolset": 3}, "toolset")],
    "call_read_tool": [({}, "name"), ({"name": 3}, "name"), ({"name": "create_client", "arguments": {"name": "x"}}, "name"),  # noqa: E501
                       ({"name": "search_tools"}, "name"), ({"name": "get_client", "arguments": {"client_id": "../x"}}, "client_id"),  # noqa: E501
                       ({"name": "get_client", "arguments": "not json"}, "arguments"), ({"name": "get_client", "arguments": {}}, "client_id")],  # noqa: E501
    "call_write_tool": [({}, "name"), ({"name": "get_client", "arguments": {"client_id": "x"}}, "name"),
                        ({"name": "create_client", "arguments": {"name": 5}}, "name"),
                        ({"name": "create_client", "arguments": {"name": "ok", "bogus": 1}}, "bogus"),
                        ({"name": "delete_client", "arguments": {"client_id": "a/b"}}, "client_id")],
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(META_TOOLS))
async def test_fuzz_meta_tool(name: str, seeded: Seeded, pool: IdPool, stats: Stats) -> None:
    registry = seeded.registry
    if name in ("call_read_tool", "call_write_tool"):
        read = name == "call_read_tool"
        targets = sorted(n for n, t in registry.tools.items() if t.spec.read_only == read)
        picks = random.Random(name).sample(targets, 12 if not LONG else len(targets))
        valid = [
            {"name": t, "arguments": a}
            for t in picks
            for a in draw(arguments(registry.tools[t], pool), 2 if not LONG else 10)
        ]
    else:
        valid = draw(META_VALID[name], VALID_PER_TOOL)
    async with seeded.mcp(settings=_settings(), wrap=seeded.recorder) as client:
        caller = Caller(client, seeded, None, stats)
        for args, field in META_INVALID.get(name, []):
            result, sent, _ = await caller.call(name, args)
            _refused(result, field, f"{name}({args})", sent)
            stats.calls["invalid"] += 1
        for args in valid:
            if name.startswith("call_"):
                caller.tool = registry.tools[args["name"]]
                caller.template = _template(caller.tool)
            await caller.call(name, args)
            stats.calls["valid"] += 1
    assert not caller.server_errors, caller.server_errors[:5]


@pytest.mark.parametrize("name", sorted(META_TOOLS))
async def test_meta_tools_refuse_unknown_arguments(name: str, seeded: Seeded) -> None:
    """Generated tools refuse unknown fields; discovery tools should too (their schema lists the fields)."""
    async with seeded.mcp(settings=_settings()) as client:
        base: dict[str, Any] = {
            "search_tools": {"query": "rechnung"},
            "describe_tool": {"name": "get_client"},
            "call_read_tool": {"name": "list_clients"},
            "call_write_tool": {"name": "create_client", "arguments": {"name": "Meta GmbH"}},
            "list_toolsets": {},
            "enable_toolset": {"toolset": "clients"},
        }[name]
        before = len(seeded.requests)
        result = await client.call_tool(name, {**base, "zz_extra": 1})
    data = result.structured_content or {}
    assert result.is_error, f"discovery tool {name} accepted the unknown argument zz_extra"
    assert data.get("field") == "zz_extra" and len(seeded.requests) == before


@pytest.mark.parametrize("value", ["../invoices", "x?status=paid", "a/b", "..%2Fusers", "a#b"])
async def test_prompt_arguments_cannot_move_the_path(value: str, seeded: Seeded) -> None:
    """Prompt arguments are free text; like tool ids, they must never become path segments."""
    async with seeded.mcp(settings=_settings()) as client:
        before = len(seeded.requests)
        with contextlib.suppress(Exception):  # "no such project" is a fine answer
            await client.get_prompt("project_status_report", {"project": value})
    allowed = re.compile(rf"^{API_PREFIX}(/users|/projects|/projects/{SEGMENT}(/tasks|/columns)?)$")
    moved = []
    for request in seeded.requests[before:]:
        path, _, query = request.url.raw_path.decode("ascii").partition("?")
        keys = {k for k, _ in parse_qsl(query, keep_blank_values=True)}
        if not allowed.match(path) or not keys <= {"search", "per_page", "page"}:
            moved.append(request.url.raw_path.decode("ascii"))
    assert moved == [], f"prompt argument {value!r} moved the request path"
