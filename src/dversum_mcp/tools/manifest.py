"""The endpoint table: pydantic models of `tool_manifests/*.toml` and their loading.

Loading expands the table's shorthands (`path_params`, `include`/`partial`, `paginated`,
`response = "binary"`) into explicit `ParamSpec`s, and checks everything a tool needs:
unique names, known types/hooks, unique toolset order, path placeholders that match, explicit
annotations that agree with the method. Any problem raises `ManifestError` naming the
file and the entry; nothing is warned about and kept.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dversum_mcp.api.calls import MAX_ALL_PAGES_ITEMS

__all__ = [
    "CLIENT_CAPABILITIES",
    "VIEWS",
    "Manifest",
    "ManifestError",
    "ParamSpec",
    "ToolSpec",
    "ToolsetSpec",
    "check_hooks",
    "default_manifest",
    "load_manifest",
    "manifest_dir",
    "view_uri",
]

NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
VIEWS = ("board", "invoice", "timesheet")
"""MCP Apps views a tool can point at (`view = "…"`): `ui://dversum/{view}.html`."""


def view_uri(view: str) -> str:
    """The `ui://` resource of a view, as tools point at it and the server serves it."""
    return f"ui://dversum/{view}.html"


ParamType = Literal[
    "string", "integer", "number", "boolean", "array", "object", "id", "ids", "date", "datetime", "cents", "slug"
]
Location = Literal["path", "query", "body", "form", "local"]
ClientCapability = Literal["roots", "sampling", "elicitation"]
CLIENT_CAPABILITIES: tuple[str, ...] = ("roots", "sampling", "elicitation")
"""Client capabilities a tool or an argument can need (`needs_client`): the ClientCapabilities fields
a server can rely on (listing the client's folders, asking its model, asking its user)."""
_SCALARS = {"string", "integer", "number", "boolean"}


class ManifestError(Exception):
    """The endpoint table is malformed: a start-up error (the server does not start), never a tool result.

    Raised by `load_manifest`, naming the file and the entry; the CLI prints it and exits.
    """


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ParamSpec(_Strict):
    """One tool argument and where it goes in the request."""

    name: str
    type: ParamType
    location: Location | None = Field(default=None, alias="in")
    api_name: str | None = None
    required: bool = False
    description: str | None = None
    enum: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    minLength: int | None = None
    maxLength: int | None = None
    minItems: int | None = None
    items: str | None = None
    object: str | None = None
    default: Any = None
    days: Literal["start", "end"] | None = None
    """A window bound that also takes YYYY-MM-DD: the start or the end of that Europe/Berlin day."""
    needs_client: tuple[ClientCapability, ...] = ()
    """Client capabilities this argument cannot work without, when it is given (see `ToolSpec.needs_client`)."""

    @property
    def wire_name(self) -> str:
        return self.api_name or self.name

    @property
    def where(self) -> Location:
        assert self.location is not None  # always set once loaded
        return self.location


class Annotations(_Strict):
    readOnlyHint: bool
    destructiveHint: bool
    idempotentHint: bool
    openWorldHint: bool


class _RawTool(_Strict):
    name: str
    title: str
    description: str
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] | None = None
    path: str | None = None
    path_params: dict[str, str] = Field(default_factory=dict)
    optional_path_params: tuple[str, ...] = ()
    slug_params: tuple[str, ...] = ()
    source: Literal["documented", "inferred"]
    default: bool = False
    public: bool = False
    paginated: bool = False
    response: Literal["json", "binary"] = "json"
    hook: str | None = None
    annotations: Annotations
    include: str | None = None
    partial: bool = False
    confirm: str | None = None
    status: Literal[200, 201] = 200
    view: Literal["board", "invoice", "timesheet"] | None = None
    needs_client: tuple[ClientCapability, ...] = ()
    params: tuple[ParamSpec, ...] = ()


class _RawToolset(_Strict):
    name: str
    title: str
    description: str
    order: int
    sandbox_only: bool = False
    multi_user_only: bool = False
    updates_resource: str | None = None


class _RawFile(_Strict):
    toolset: _RawToolset
    fields: dict[str, tuple[ParamSpec, ...]] = Field(default_factory=dict)
    tool: tuple[_RawTool, ...] = ()


@dataclass(frozen=True)
class ToolsetSpec:
    name: str
    title: str
    description: str
    order: int = 0
    sandbox_only: bool = False
    updates_resource: str | None = None
    multi_user_only: bool = False


@dataclass(frozen=True)
class ToolSpec:
    """Everything a tool is, as the table says it."""

    name: str
    title: str
    description: str
    toolset: str
    method: str | None
    path: str | None
    source: str
    default: bool
    public: bool
    paginated: bool
    response: str
    hook: str | None
    annotations: Annotations
    params: tuple[ParamSpec, ...]
    file: str
    confirm: str | None = None
    """Confirmation question for destructive tools, with {field} / {field|eur} from the target resource."""
    status: int = 200
    """The API's success status (201 for a POST that creates something; DELETE answers 204 regardless)."""
    sandbox_only: bool = False
    """From the toolset: only the local sandbox serves it (listed and callable on the sandbox only)."""
    multi_user_only: bool = False
    """From the toolset: only the multi-user server serves it (it needs the per-user audit log)."""
    updates_resource: str | None = None
    """From the toolset: the resource URI (with `{id}` of the result) a write changes, for subscribers."""
    view: str | None = None
    """MCP Apps view that shows this tool's result (one of VIEWS), advertised as `_meta.ui.resourceUri`."""
    needs_client: tuple[str, ...] = ()
    """Client capabilities the tool cannot work without (one of CLIENT_CAPABILITIES); a call from a client
    that did not declare one is refused before anything runs (-32021 on 2026-07-28, an isError before)."""

    @property
    def read_only(self) -> bool:
        return self.annotations.readOnlyHint

    @property
    def destructive(self) -> bool:
        return self.annotations.destructiveHint

    def param(self, name: str) -> ParamSpec | None:
        return next((p for p in self.params if p.name == name), None)


@dataclass(frozen=True)
class Manifest:
    toolsets: tuple[ToolsetSpec, ...]
    tools: tuple[ToolSpec, ...]
    types: dict[str, dict[str, Any]]

    def tool(self, name: str) -> ToolSpec | None:
        return next((t for t in self.tools if t.name == name), None)


# ---- shorthands expanded at load -----------------------------------------------------------
_PAGE = (
    ParamSpec.model_validate({"name": "page", "type": "integer", "in": "query", "minimum": 1}),
    ParamSpec.model_validate({"name": "per_page", "type": "integer", "in": "query", "minimum": 1, "maximum": 100}),
    ParamSpec.model_validate(
        {
            "name": "all_pages",
            "type": "boolean",
            "in": "local",
            "description": f"Every page, up to {MAX_ALL_PAGES_ITEMS:,} items",
        }
    ),
    ParamSpec.model_validate({"name": "cursor", "type": "string", "in": "local"}),
    ParamSpec.model_validate({"name": "fields", "type": "array", "items": "string", "in": "local"}),
)
_LOCAL_GENERIC = frozenset({"all_pages", "cursor", "fields", "save_as", "overwrite"})
_BINARY = (
    ParamSpec.model_validate(
        {
            "name": "save_as",
            "type": "string",
            "in": "local",
            "description": "Save to this file path (allowed folders only)",
            "needs_client": ["roots"],  # the client's folders, unless the server has DVERSUM_FILE_ROOTS
        }
    ),
    ParamSpec.model_validate({"name": "overwrite", "type": "boolean", "in": "local"}),
)


def manifest_dir() -> Path:
    """`tool_manifests/` inside the installed wheel, or at the repository root in a checkout."""
    packaged = Path(__file__).parents[1] / "tool_manifests"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "tool_manifests"


def _fail(file: str, entry: str | None, message: str) -> ManifestError:
    where = f"{file}" + (f", tool {entry!r}" if entry else "")
    return ManifestError(f"{where}: {message}")


def _default_location(method: str | None) -> Location:
    return "query" if method in (None, "GET", "DELETE") else "body"


def _expand(raw: _RawTool, fields: dict[str, tuple[ParamSpec, ...]], file: str) -> tuple[ParamSpec, ...]:
    out: list[ParamSpec] = []
    placeholders = PLACEHOLDER.findall(raw.path or "")
    if set(placeholders) != set(raw.path_params):
        raise _fail(
            file, raw.name, f"path placeholders {placeholders} do not match path_params {list(raw.path_params)}"
        )
    for api_name in placeholders:
        name = raw.path_params[api_name]
        kind: ParamType = "slug" if name in raw.slug_params else "id"
        required = name not in raw.optional_path_params
        out.append(
            ParamSpec.model_validate(
                {"name": name, "type": kind, "in": "path", "api_name": api_name, "required": required}
            )
        )
    included: tuple[ParamSpec, ...] = ()
    if raw.include is not None:
        if raw.include not in fields:
            raise _fail(file, raw.name, f"include {raw.include!r} is not a [fields] list of this file")
        included = fields[raw.include]
        if raw.partial:
            included = tuple(p.model_copy(update={"required": False}) for p in included)
    for param in (*included, *raw.params):
        location = param.location or _default_location(raw.method)
        out.append(param.model_copy(update={"location": location}))
    if raw.paginated:
        out.extend(_PAGE)
    if raw.response == "binary":
        out.extend(_BINARY)
    names = [p.name for p in out]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise _fail(file, raw.name, f"duplicate parameters {sorted(duplicates)}")
    return tuple(out)


def _check_param(param: ParamSpec, types: dict[str, dict[str, Any]], file: str, tool: str) -> None:
    if param.type == "array":
        if param.items is None:
            raise _fail(file, tool, f"array parameter {param.name!r} needs items")
        if param.items not in _SCALARS and param.items not in types:
            raise _fail(file, tool, f"parameter {param.name!r}: unknown items type {param.items!r}")
    elif param.items is not None:
        raise _fail(file, tool, f"parameter {param.name!r}: items only applies to arrays")
    if param.object is not None and (param.type != "object" or param.object not in types):
        raise _fail(file, tool, f"parameter {param.name!r}: object {param.object!r} is not a known object type")
    if param.location == "path" and not param.required and param.type not in ("id", "slug"):
        raise _fail(file, tool, f"path parameter {param.name!r} must be an id or slug")
    if param.needs_client and param.required:
        raise _fail(
            file,
            tool,
            f"parameter {param.name!r}: a required parameter cannot need a client capability "
            "(put needs_client on the tool)",
        )
    if len(set(param.needs_client)) != len(param.needs_client):
        raise _fail(file, tool, f"parameter {param.name!r}: needs_client lists a capability twice")


def _check_annotations(raw: _RawTool, file: str) -> None:
    ann = raw.annotations
    if raw.method is None:
        if raw.hook is None:
            raise _fail(file, raw.name, "a tool without method/path needs a hook")
    elif raw.path is None:
        raise _fail(file, raw.name, "method given without path")
    if raw.status == 201 and raw.method != "POST":
        raise _fail(file, raw.name, "status = 201 is for POSTs that create something")
    if raw.method is not None and raw.method != "GET" and ann.readOnlyHint:
        raise _fail(file, raw.name, f"{raw.method} tool cannot be readOnlyHint = true")
    if raw.method == "GET" and not ann.readOnlyHint:
        raise _fail(file, raw.name, "GET tool must be readOnlyHint = true")
    if raw.method == "DELETE" and not ann.destructiveHint:
        raise _fail(file, raw.name, "DELETE tool must be destructiveHint = true")
    if ann.readOnlyHint and ann.destructiveHint:
        raise _fail(file, raw.name, "a read-only tool cannot be destructive")


def _load_types(path: Path) -> dict[str, dict[str, Any]]:
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise _fail(path.name, None, f"invalid TOML: {exc}") from None
    types: dict[str, dict[str, Any]] = {}
    for name, spec in data.items():
        if not isinstance(spec, dict):
            raise _fail(path.name, None, f"type {name!r} must be a table")
        if spec.get("type", "object") == "object":
            try:
                props = tuple(ParamSpec.model_validate(p) for p in spec.get("properties", ()))
            except ValidationError as exc:
                raise _fail(path.name, None, f"type {name!r}: {exc}") from None
            spec = {**spec, "properties": props}
        types[name] = spec
    return types


def check_hooks(manifest: Manifest, known_hooks: Iterable[str]) -> None:
    """Every tool's hook is one of `known_hooks`."""
    hooks = set(known_hooks)
    for tool in manifest.tools:
        if tool.hook is not None and tool.hook not in hooks:
            raise _fail(tool.file, tool.name, f"unknown hook {tool.hook!r}")


@cache
def default_manifest() -> Manifest:
    """The installed table, loaded once per process (registry, discovery and exports share it)."""
    return load_manifest()


def load_manifest(
    directory: Path | None = None, known_hooks: Iterable[str] | None = None, extra: Iterable[Path] = ()
) -> Manifest:
    """Load and validate every toolset file; `known_hooks` (if given) must contain each tool's hook.

    `extra`: further directories of toolset files (an operator's own tools, `DVERSUM_EXTRA_MANIFESTS`),
    validated exactly like the built-in table; their toolset names, orders, tool names and `_types.toml`
    names must not collide with it or with each other. Their errors name the file by its full path."""
    root = directory or manifest_dir()
    types = _load_types(root / "_types.toml")
    toolsets: list[ToolsetSpec] = []
    orders: dict[int, str] = {}
    tools: list[ToolSpec] = []
    seen: dict[str, str] = {}
    files = sorted(p for p in root.glob("*.toml") if not p.name.startswith("_"))
    if not files:
        raise ManifestError(f"{root}: no toolset files (*.toml) found")
    labels = {path: path.name for path in files}
    for folder in extra:
        if not folder.is_dir():
            raise ManifestError(f"{folder}: extra manifest directory does not exist")
        own = sorted(p for p in folder.glob("*.toml") if not p.name.startswith("_"))
        if not own:
            raise ManifestError(f"{folder}: no toolset files (*.toml) found")
        for name, spec in _load_types(folder / "_types.toml").items():
            if name in types:
                raise _fail(str(folder / "_types.toml"), None, f"type {name!r} is already defined")
            types[name] = spec
        for path in own:
            labels[path] = str(path)
        files.extend(own)
    toolset_files: dict[str, str] = {}
    for path in files:
        label = labels[path]
        try:
            data = _RawFile.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
        except tomllib.TOMLDecodeError as exc:
            raise _fail(label, None, f"invalid TOML: {exc}") from None
        except ValidationError as exc:
            raise _fail(label, _entry_of(exc, path), _pydantic_message(exc)) from None
        if data.toolset.name != path.stem:
            raise _fail(label, None, f"toolset name {data.toolset.name!r} must match the file name")
        toolset = data.toolset
        if toolset.name in toolset_files:
            raise _fail(label, None, f"toolset {toolset.name!r} is also {toolset_files[toolset.name]}")
        toolset_files[toolset.name] = label
        if toolset.order in orders:
            raise _fail(label, None, f"toolset order {toolset.order} is also {orders[toolset.order]}'s")
        orders[toolset.order] = label
        toolsets.append(
            ToolsetSpec(
                toolset.name,
                toolset.title,
                toolset.description,
                toolset.order,
                toolset.sandbox_only,
                toolset.updates_resource,
                toolset.multi_user_only,
            )
        )
        for raw in data.tool:
            if not NAME.match(raw.name):
                raise _fail(label, raw.name, "name must match ^[a-z][a-z0-9_]{0,47}$")
            if raw.name in seen:
                raise _fail(label, raw.name, f"duplicate tool name (also in {seen[raw.name]})")
            _check_annotations(raw, label)
            if len(set(raw.needs_client)) != len(raw.needs_client):
                raise _fail(label, raw.name, "needs_client lists a capability twice")
            params = _expand(raw, data.fields, label)
            for param in params:
                _check_param(param, types, label, raw.name)
            if any(p.location == "local" for p in params if p.name not in _LOCAL_GENERIC) and (raw.hook is None):
                raise _fail(label, raw.name, "local parameters need a hook to consume them")
            seen[raw.name] = label
            tools.append(
                ToolSpec(
                    name=raw.name,
                    title=raw.title,
                    description=raw.description,
                    toolset=data.toolset.name,
                    method=raw.method,
                    path=raw.path,
                    source=raw.source,
                    default=raw.default,
                    public=raw.public,
                    paginated=raw.paginated,
                    response=raw.response,
                    hook=raw.hook,
                    annotations=raw.annotations,
                    params=params,
                    file=label,
                    confirm=raw.confirm,
                    status=raw.status,
                    sandbox_only=toolset.sandbox_only,
                    multi_user_only=toolset.multi_user_only,
                    updates_resource=toolset.updates_resource,
                    view=raw.view,
                    needs_client=raw.needs_client,
                )
            )
    order = {t.name: t.order for t in toolsets}
    toolsets.sort(key=lambda t: t.order)
    tools.sort(key=lambda t: (order[t.toolset], t.name))
    manifest = Manifest(tuple(toolsets), tuple(tools), types)
    if known_hooks is not None:
        check_hooks(manifest, known_hooks)
    return manifest


def _entry_of(exc: ValidationError, path: Path) -> str | None:
    for err in exc.errors():
        loc = err.get("loc", ())
        if len(loc) >= 2 and loc[0] == "tool" and isinstance(loc[1], int):
            try:
                raw = tomllib.loads(path.read_text(encoding="utf-8"))
                name = raw["tool"][loc[1]].get("name")
                return str(name) if name else f"#{loc[1] + 1}"
            except (KeyError, IndexError, tomllib.TOMLDecodeError):
                return f"#{loc[1] + 1}"
    return None


def _pydantic_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(x) for x in err.get("loc", ()))
        parts.append(f"{loc}: {err.get('msg')}")
    return "; ".join(parts)
