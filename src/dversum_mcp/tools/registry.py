"""Generated tools: table entries → MCP tool definitions, selection filters, and dispatch.

`Registry` builds every tool once from the manifest. `Selection` is the data-driven filter
(toolsets, single tools, read-only, documented-only) — precedence read-only > exclude >
include — and decides both what is listed and what may be called. `Registry.execute` runs
one validated call through its hook or the generic endpoint call.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import mcp_types as types

from dversum_mcp.api.calls import Call, EndpointLookup, EnoughFn, Outcome, ProgressFn, run_default
from dversum_mcp.api.client import ApiClient
from dversum_mcp.api.errors import ArgumentError, DversumError
from dversum_mcp.api.hooks import HOOKS
from dversum_mcp.api.hooks.files import save_binary
from dversum_mcp.tools.endpoints import Endpoints
from dversum_mcp.tools.manifest import (
    Manifest,
    ToolSpec,
    check_hooks,
    default_manifest,
    load_manifest,
    view_uri,
)
from dversum_mcp.tools.schema import input_schema, validate_arguments

__all__ = ["GeneratedTool", "Registry", "Selection", "SelectionError"]


class SelectionError(ValueError):
    """Unknown toolset or tool names in the configuration (raised at start-up)."""


@dataclass(frozen=True)
class GeneratedTool:
    spec: ToolSpec
    schema: dict[str, Any]
    definition: types.Tool


@dataclass(frozen=True)
class Selection:
    """Which tools are listed and callable. Empty `toolsets` means the default selection."""

    toolsets: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()
    exclude_tools: tuple[str, ...] = ()
    read_only: bool = False
    documented_only: bool = False
    sandbox: bool = False
    multi_user: bool = False
    """The team server: the `audit` toolset (a user's own audit log) exists only there."""
    within: Selection | None = None
    """Set by `narrowed`: the server's selection, which bounds this one's listing."""

    def allows(self, spec: ToolSpec) -> bool:
        """May this tool be called at all (directly or through call_read_tool/call_write_tool)?"""
        if self.read_only and not spec.read_only:
            return False
        if spec.name in self.exclude_tools:
            return False
        if self.documented_only and spec.source != "documented":
            return False
        if spec.multi_user_only and not self.multi_user:
            return False
        return not (spec.sandbox_only and not self.sandbox)

    def lists(self, spec: ToolSpec) -> bool:
        """Is this tool in the listing?"""
        if not self.allows(spec):
            return False
        if self.within is not None and not self.within.lists(spec):
            return False
        if spec.name in self.tools:
            return True
        if "all" in self.toolsets:
            return True
        if spec.sandbox_only or spec.multi_user_only:
            return True
        if not self.toolsets:
            return spec.default
        return spec.toolset in self.toolsets

    def narrowed(self, toolsets: tuple[str, ...] | None, read_only: bool | None) -> Selection:
        """A per-request selection (HTTP headers) that can only narrow this one."""
        out = self
        if read_only:
            out = replace(out, read_only=True)
        if toolsets:
            mine = set(self.toolsets) if self.toolsets and "all" not in self.toolsets else None
            wanted = tuple(t for t in toolsets if t == "all" or mine is None or t in mine)
            if "all" in wanted and mine is not None:
                wanted = tuple(sorted(mine))
            out = replace(out, toolsets=wanted or ("__none__",), tools=())
        # `all` or a toolset outside the default selection must not list more than the server does
        return replace(out, within=self) if out is not self else out


@dataclass
class CallEnv:
    """What one call needs besides its arguments."""

    client: ApiClient
    deadline: float | None = None
    progress: ProgressFn | None = None
    roots: Callable[[], Awaitable[list[Path]]] | None = None
    file_roots: tuple[Path, ...] = ()
    enough: EnoughFn | None = None
    """The result budget, for list walks: stop fetching pages once an answer is full."""


class Registry:
    def __init__(
        self, manifest: Manifest | None = None, *, output_schemas: bool = False, extra_manifests: tuple[Path, ...] = ()
    ) -> None:
        if manifest is None:
            manifest = load_manifest(extra=extra_manifests) if extra_manifests else default_manifest()
            check_hooks(manifest, HOOKS)
        self.manifest = manifest
        self.output_schemas = output_schemas
        self.endpoint = Endpoints(self.manifest)
        """Method and path by tool name (resources, prompts, confirmations and hooks use it)."""
        self.tools: dict[str, GeneratedTool] = {}
        for spec in self.manifest.tools:
            schema = input_schema(spec, self.manifest)
            self.tools[spec.name] = GeneratedTool(spec, schema, self._definition(spec, schema))
        self.finders = _finders(self.manifest.tools)
        """The tool that tells the values of each path parameter (invoice_id: list_invoices), for not-found hints."""

    def _definition(self, spec: ToolSpec, schema: dict[str, Any]) -> types.Tool:
        ann = spec.annotations
        # Every listing pays for every byte here, so nothing is said twice: no annotations.title (it
        # would repeat `title`), and no `title` that only spells out the name ("List invoices" for
        # list_invoices; clients then show the name). Titles that say more ("Log time") stay.
        plain = spec.title == spec.name.replace("_", " ").capitalize()
        meta = None
        if spec.view is not None:  # MCP Apps: hosts that render views show this document with the result
            meta = {"ui": {"resourceUri": view_uri(spec.view)}}  # visibility: the default, model and app
        return types.Tool(
            name=spec.name,
            title=None if plain else spec.title,
            description=spec.description,
            input_schema=schema,
            output_schema=_output_schema(spec) if self.output_schemas else None,
            annotations=types.ToolAnnotations(
                read_only_hint=ann.readOnlyHint,
                destructive_hint=ann.destructiveHint,
                idempotent_hint=ann.idempotentHint,
                open_world_hint=ann.openWorldHint,
            ),
            _meta=meta,
        )

    def check_names(self, selection: Selection) -> None:
        """Unknown toolsets/tools in the configuration are an error, not a silent no-op."""
        names = [t.name for t in self.manifest.toolsets]
        bad_sets = [t for t in selection.toolsets if t not in {*names, "all"}]
        if bad_sets:
            raise SelectionError(f"unknown toolset(s) {', '.join(bad_sets)}; known: {', '.join(names)}, all")
        bad_tools = [t for t in (*selection.tools, *selection.exclude_tools) if t not in self.tools]
        if bad_tools:
            raise SelectionError(f"unknown tool(s) {', '.join(bad_tools)}; see `dversum-mcp tools`")

    def listed(self, selection: Selection) -> list[GeneratedTool]:
        return [t for t in self.tools.values() if selection.lists(t.spec)]

    def callable(self, name: str, selection: Selection) -> GeneratedTool | None:
        tool = self.tools.get(name)
        return tool if tool is not None and selection.allows(tool.spec) else None

    def by_toolset(self) -> dict[str, list[GeneratedTool]]:
        out: dict[str, list[GeneratedTool]] = {}
        for tool in self.tools.values():
            out.setdefault(tool.spec.toolset, []).append(tool)
        return out

    def validate(self, tool: GeneratedTool, arguments: Mapping[str, Any] | None) -> None:
        """Raise the ArgumentError (with the table's hint for its field) that `execute` would for these arguments."""
        try:
            validate_arguments(tool.spec, tool.schema, arguments)
        except DversumError as exc:
            exc.hint = _field_hint(tool.spec, exc, arguments) or exc.hint
            raise

    async def execute(self, tool: GeneratedTool, arguments: Mapping[str, Any] | None, env: CallEnv) -> Outcome:
        """Validate, build the request from each parameter's location, run hook or default."""
        spec = tool.spec
        try:
            args = validate_arguments(spec, tool.schema, arguments)
            call = build_call(spec, args, env, self.endpoint)
            if spec.hook is not None:
                outcome = await HOOKS[spec.hook](call)
            else:
                outcome = await run_default(call)
        except DversumError as exc:
            exc.hint = (
                _field_hint(spec, exc, arguments) or _missing_hint(spec, exc, arguments, self.finders) or exc.hint
            )
            raise
        except OverflowError:  # date arithmetic on an argument (a day, an instant, a duration) left the calendar
            raise ArgumentError(
                "a date, time or duration is out of range",
                hint="Use dates between the years 0002 and 9998 and durations under a year.",
            ) from None
        if outcome.binary is not None:
            outcome = await save_binary(call, outcome)
        if outcome.window is None and call.local.get("cursor"):
            outcome.resume = str(call.local["cursor"])
        outcome.warnings.extend(_price_warnings(args))
        return outcome


def _field_hint(spec: ToolSpec, exc: DversumError, arguments: Mapping[str, Any] | None) -> str | None:
    """What the table says about the field an error names, so the model learns what the value must be
    (country: "ISO 3166-1 alpha-2", column_id: "Id from list_project_columns"), before the error's own hint."""
    field = getattr(exc, "field", None)
    param = next((p for p in spec.params if field in (p.name, p.wire_name)), None)
    if param is None:
        return None
    value = (arguments or {}).get(param.name)
    sibling = f"{param.name}_json"
    if param.type == "string" and isinstance(value, (dict, list)) and any(p.name == sibling for p in spec.params):
        return f"{param.name} takes text; pass a Tiptap/ProseMirror document object as {sibling} instead."
    if not param.description:
        return None
    return f"{param.name}: {param.description}." + (f" {exc.hint}" if exc.hint else "")


def _finders(specs: Sequence[ToolSpec]) -> dict[str, str]:
    """For each path parameter, the tool that tells its values, derived from the table: `X_id` is
    listed by `list_<Xs>` or the list tool that ends in `_<Xs>` (column_id: list_project_columns);
    any other one (user_slug) by the tool its tools' descriptions name ("slugs: get_current_user")."""
    names = {spec.name for spec in specs}
    lists = sorted((n for n in names if n.startswith("list_")), key=len)
    out: dict[str, str] = {}
    for spec in specs:
        for param in spec.params:
            if param.where != "path" or param.name in out:
                continue
            if param.name.endswith("_id"):
                thing = param.name[:-3]
                plurals = (thing + "s", thing[:-1] + "ies", thing + "es")
                found = [n for n in lists if n[5:] in plurals] or [
                    n for n in lists if n.endswith(tuple("_" + p for p in plurals))
                ]
                found = found or [n for n in lists if n[5:].startswith(thing + "_")]  # share_id: list_share_links
            else:
                found = [
                    n for n in re.findall(r"\b[a-z]+_[a-z_]+\b", spec.description) if n in names and n != spec.name
                ]
            if found:
                out[param.name] = found[0]
    return out


def _missing_hint(
    spec: ToolSpec, exc: DversumError, arguments: Mapping[str, Any] | None, finders: Mapping[str, str]
) -> str | None:
    """A not-found answer names the ids the call sent and the tool that tells the right ones, instead of
    a hint that only says an id was wrong."""
    if getattr(exc, "status", None) != 404:
        return None
    sent = [p for p in spec.params if p.where == "path" and (arguments or {}).get(p.name) is not None]
    parts = [f"{p.name} from {finders[p.name]}" for p in sent if p.name in finders]
    if not parts:
        return None
    given = ", ".join(f"{p.name} {str((arguments or {})[p.name])[:80]!r}" for p in sent)
    return (
        f"Nothing in this workspace answers to {given} (a made-up, mistyped or deleted value, or another "
        f"organization's). Take {'; '.join(parts)}, then call {spec.name} again."
    )


def build_call(spec: ToolSpec, args: Mapping[str, Any], env: CallEnv, endpoint: EndpointLookup) -> Call:
    call = Call(
        client=env.client,
        tool=spec.name,
        method=spec.method,
        path=spec.path,
        path_args={},
        query={},
        body={},
        form={},
        local={},
        endpoint=endpoint,
        public=spec.public,
        paginated=spec.paginated,
        binary=spec.response == "binary",
        deadline=env.deadline,
        file_roots=env.file_roots,
    )
    if env.progress is not None:
        call.progress = env.progress
    if env.roots is not None:
        call.roots = env.roots
    call.enough = env.enough
    for param in spec.params:
        if param.name not in args:
            continue
        value = args[param.name]
        where = param.where
        if where == "path":
            call.path_args[param.wire_name] = str(value)
        elif where == "query":
            call.query[param.wire_name] = value
        elif where == "body":
            call.body[param.wire_name] = value
        elif where == "form":
            call.form[param.wire_name] = str(value)
        else:
            call.local[param.name] = value
    missing = [p.name for p in spec.params if p.where == "path" and p.required and p.wire_name not in call.path_args]
    if missing:
        raise ArgumentError(f"{missing[0]} is required", field=missing[0])
    return call


def _price_warnings(args: Mapping[str, Any]) -> list[str]:
    """Invoice/quote lines priced under 1 €: most likely euros sent as cents."""
    out = []
    lines = args.get("line_items")
    for i, line in enumerate(lines if isinstance(lines, list) else []):
        price = line.get("unit_price_cents") if isinstance(line, dict) else None
        if isinstance(price, int) and 0 < price < 100:
            what = line.get("description") or f"line {i + 1}"
            euros = f"{price / 100:.2f}".replace(".", ",")  # the amount in German notation, not the description
            out.append(
                f"line_items[{i}] ({what}): unit price {price} cents = {euros} € "
                + f"(under 1 €). If {price},00 € was meant, send unit_price_cents {price * 100}."
            )
    return out


def _output_schema(spec: ToolSpec) -> dict[str, Any]:
    """The result shape where the table knows it: list envelopes; otherwise an object."""
    if spec.paginated:
        return {
            "type": "object",
            "properties": {
                "total": {"type": "integer"},
                "shown": {"type": "string"},
                "next_cursor": {"type": "string"},
            },
        }
    return {"type": "object"}
