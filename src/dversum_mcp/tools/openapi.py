"""An OpenAPI 3.1 document for the dVersum API v1, generated from the endpoint table.

The vendor lists its OpenAPI spec as "coming soon", so this one is derived from what the MCP
server itself knows: every `(method, path)` of `tool_manifests/*.toml` becomes one operation.
Several tools may share an endpoint (PUT /pages/{id}/content serves three): they are merged
into one operation whose `operationId` is the plain tool (documented, without a hook) and
whose `x-mcp-tools` names the others. Parameters and request bodies come from the table's
params by location (`local` params are MCP-only and left out); responses are generic (the
table does not describe response fields), but their envelopes, status codes, error shape and
rate-limit headers follow the reference and `docs/sandbox-contract.md`.
`x-source` says whether the endpoint is in the reference (`documented`) or `inferred`.
Sandbox-only endpoints (a toolset with `sandbox_only = true`) are left out unless asked for.

    dversum-mcp openapi [-o FILE]   # JSON on stdout, or into FILE
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from dversum_mcp import __version__
from dversum_mcp.api.limiter import API_RATE_LIMIT
from dversum_mcp.tools.manifest import Manifest, ParamSpec, ToolSpec, load_manifest
from dversum_mcp.tools.schema import ID_PATTERN, SLUG_PATTERN

__all__ = ["OPENAPI_VERSION", "SERVER_URL", "build_openapi", "param_schema", "write_openapi"]

OPENAPI_VERSION = "3.1.0"
SERVER_URL = "https://api.dversum.com/api/v1"

_METHOD_ORDER = ("GET", "POST", "PUT", "PATCH", "DELETE")
_PLACEHOLDER = re.compile(r"\{[^}]+\}")
_ERRORS: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "Bad request: JSON parse error or missing required field"),
    401: ("Unauthorized", "Missing or invalid token"),
    403: ("Forbidden", "Token is valid but lacks permission for the resource"),
    404: ("NotFound", "Resource does not exist (or belongs to another organization)"),
    409: ("Conflict", "Conflict, e.g. duplicate slug/email or a state that forbids the change"),
    413: ("PayloadTooLarge", "Request body too large (uploads: max 100 MB)"),
    422: ("ValidationFailed", "Validation failed; `field` names the offending field"),
    429: (
        "RateLimited",
        f"Rate limit exceeded ({API_RATE_LIMIT} requests/minute per token); retry after `Retry-After` seconds",
    ),
}
_LIST_KEYS = {"/sandbox/outbox": "emails"}  # where the key is not the path's last segment
_RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


# ---- schemas ---------------------------------------------------------------------------------
def _component_name(type_name: str) -> str:
    return "".join(part.capitalize() for part in type_name.split("_"))


def _ref(type_name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{_component_name(type_name)}"}


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _items(name: str | None, types: Mapping[str, Any]) -> dict[str, Any]:
    if name is None or name not in types:
        return {"type": name or "string"}
    return _ref(name)


def param_schema(param: ParamSpec, types: Mapping[str, Any]) -> dict[str, Any]:
    """JSON Schema (2020-12, as OpenAPI 3.1 uses it) of one table parameter; shared types as `$ref`."""
    kind = param.type
    schema: dict[str, Any]
    if kind == "id":
        schema = {"type": "string", "pattern": ID_PATTERN.pattern}
    elif kind == "slug":
        schema = {"type": "string", "pattern": SLUG_PATTERN.pattern}
    elif kind == "ids":
        schema = {"type": "array", "items": {"type": "string", "pattern": ID_PATTERN.pattern}}
    elif kind == "date":
        schema = {"type": "string", "format": "date"}
    elif kind == "datetime":
        schema = {"type": "string", "format": "date-time"}
    elif kind == "cents":
        schema = {"type": "integer", "minimum": 0}
    elif kind == "array":
        schema = {"type": "array", "items": _items(param.items, types)}
    elif kind == "object":
        schema = _ref(param.object) if param.object is not None and param.object in types else {"type": "object"}
    else:
        schema = {"type": kind}
    if param.description:
        schema["description"] = param.description
    if param.enum is not None:
        schema["enum"] = list(param.enum)
    for key in ("minimum", "maximum"):
        value = getattr(param, key)
        if value is not None:
            schema[key] = _number(value)
    for key in ("minLength", "maxLength", "minItems"):
        value = getattr(param, key)
        if value is not None:
            schema[key] = value
    if param.default is not None:
        schema["default"] = param.default
    return schema


def _type_schema(spec: Mapping[str, Any], types: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any]
    if spec.get("type", "object") == "object":
        props: tuple[ParamSpec, ...] = spec.get("properties", ())
        out = {
            "type": "object",
            "properties": {p.wire_name: param_schema(p, types) for p in props},
            "required": list(spec.get("required", [])),
        }
    else:
        out = {"type": spec["type"]}
        if "enum" in spec:
            out["enum"] = list(spec["enum"])
    if spec.get("description"):
        out["description"] = spec["description"]
    return out


# ---- operations -------------------------------------------------------------------------------
def _primary(tools: list[ToolSpec]) -> ToolSpec:
    """The tool that names the operation: documented first, then without a hook, then JSON, then table order."""
    return min(
        tools, key=lambda t: (t.source != "documented", t.hook is not None, t.response != "json", tools.index(t))
    )


def _merged(tools: list[ToolSpec], where: Iterable[str]) -> list[tuple[ParamSpec, bool]]:
    """Params at these locations over all tools (primary first, by wire name).

    A param is required if any tool sharing the endpoint must send it: the others fill it from
    MCP-only (local) arguments (replace_page_content's content_json becomes `content`).
    """
    locations = set(where)
    seen: dict[str, ParamSpec] = {}
    for tool in tools:
        for p in tool.params:
            if p.where in locations and p.wire_name not in seen:
                seen[p.wire_name] = p
    out = []
    for name, p in seen.items():
        required = any(q.wire_name == name and q.where == p.where and q.required for t in tools for q in t.params)
        out.append((p, required))
    return out


def _list_key(path: str) -> str:
    """The envelope's list key: the last literal path segment, snake_case (`/time-entries` → time_entries)."""
    if path in _LIST_KEYS:
        return _LIST_KEYS[path]
    literal = [seg for seg in path.strip("/").split("/") if not _PLACEHOLDER.fullmatch(seg)]
    return literal[-1].replace("-", "_")


def _success(primary: ToolSpec, method: str, path: str) -> tuple[str, dict[str, Any]]:
    headers = {name: {"$ref": f"#/components/headers/{name}"} for name in _RATE_HEADERS}
    if method == "DELETE":
        return "204", {"description": "Deleted; no content", "headers": headers}
    status = str(primary.status)
    if primary.response == "binary":
        media = "application/pdf" if path.endswith("/pdf") else "application/octet-stream"
        headers["Content-Disposition"] = {"$ref": "#/components/headers/Content-Disposition"}
        content = {media: {"schema": {"type": "string", "contentMediaType": media}}}
        return status, {"description": "The file's bytes", "headers": headers, "content": content}
    if method == "GET" and primary.paginated:
        key = _list_key(path)
        schema: dict[str, Any] = {
            "type": "object",
            "required": [key, "total", "page", "per_page"],
            "properties": {
                key: {"type": "array", "items": {"$ref": "#/components/schemas/Resource"}},
                "total": {"type": "integer", "minimum": 0, "description": "Number of items over all pages"},
                "page": {"type": "integer", "minimum": 1},
                "per_page": {"type": "integer", "minimum": 1, "maximum": 100},
            },
        }
        description = f"One page of {key}"
    else:
        schema = {"$ref": "#/components/schemas/Resource"}
        description = "Created" if status == "201" else "OK"
    return status, {"description": description, "headers": headers, "content": {"application/json": {"schema": schema}}}


def _parameters(tools: list[ToolSpec], types: Mapping[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p, required in _merged(tools, ("path", "query")):
        schema = param_schema(p, types)
        description = schema.pop("description", None)
        entry: dict[str, Any] = {
            "name": p.wire_name,
            "in": p.where,
            "required": True if p.where == "path" else required,
        }
        if description:
            entry["description"] = description
        entry["schema"] = schema
        out.append(entry)
    return out


def _request_body(tools: list[ToolSpec], types: Mapping[str, Any]) -> dict[str, Any] | None:
    form = _merged(tools, ("form",))
    if form or any(t.hook == "upload_file" for t in tools):
        props: dict[str, Any] = {
            "file": {
                "type": "string",
                "format": "binary",
                "contentMediaType": "application/octet-stream",
                "description": "The file (max 100 MB)",
            }
        }
        props.update({p.wire_name: param_schema(p, types) for p, _ in form})
        required = ["file", *(p.wire_name for p, req in form if req)]
        schema = {"type": "object", "properties": props, "required": required}
        return {"required": True, "content": {"multipart/form-data": {"schema": schema}}}
    body = _merged(tools, ("body",))
    if not body:
        return None
    required = [p.wire_name for p, req in body if req]
    schema = {
        "type": "object",
        "properties": {p.wire_name: param_schema(p, types) for p, _ in body},
        "required": required,
    }
    return {"required": bool(required), "content": {"application/json": {"schema": schema}}}


def _operation(method: str, path: str, tools: list[ToolSpec], types: Mapping[str, Any]) -> dict[str, Any]:
    primary = _primary(tools)
    ordered = [primary, *(t for t in tools if t is not primary)]
    others = ordered[1:]
    description = primary.description
    if others:
        also = "\n".join(f"- `{t.name}`: {t.description}" for t in others)
        description += f"\n\nAlso used by these MCP tools:\n{also}"
    op: dict[str, Any] = {
        "operationId": primary.name,
        "summary": primary.title,
        "description": description,
        "tags": [primary.toolset],
    }
    if primary.public:
        op["security"] = []
    params = _parameters(ordered, types)
    if params:
        op["parameters"] = params
    body = _request_body(ordered, types)
    if body is not None:
        op["requestBody"] = body
    status, success = _success(primary, method, path)
    responses: dict[str, Any] = {status: success}
    codes = [400, 404, 422, 429]
    if not primary.public:
        codes += [401, 403]
    if method != "GET":
        codes.append(409)
    if "multipart/form-data" in (body or {}).get("content", {}):
        codes.append(413)
    for code in sorted(codes):
        responses[str(code)] = {"$ref": f"#/components/responses/{_ERRORS[code][0]}"}
    op["responses"] = responses
    op["x-source"] = "documented" if any(t.source == "documented" for t in tools) else "inferred"
    if others:
        op["x-mcp-tools"] = [t.name for t in others]
    if primary.sandbox_only:
        op["x-sandbox-only"] = True
    return op


# ---- components -------------------------------------------------------------------------------
def _components(types: Mapping[str, Any]) -> dict[str, Any]:
    rate = {
        "X-RateLimit-Limit": "Requests allowed per minute for this token",
        "X-RateLimit-Remaining": "Requests left in the current window",
        "X-RateLimit-Reset": "When the current window resets (Unix time, seconds)",
    }
    headers: dict[str, Any] = {
        name: {"description": text, "schema": {"type": "integer", "minimum": 0}} for name, text in rate.items()
    }
    headers["Retry-After"] = {
        "description": "Seconds to wait before retrying",
        "schema": {"type": "integer", "minimum": 0},
    }
    headers["Content-Disposition"] = {"description": "attachment; filename=…", "schema": {"type": "string"}}
    schemas: dict[str, Any] = {
        "Error": {
            "type": "object",
            "description": "Every error: a machine token, a human-readable message and the field at fault (if any).",
            "required": ["error", "message"],
            "properties": {
                "error": {
                    "type": "string",
                    "description": "Machine token, e.g. validation_failed",
                    "examples": ["validation_failed"],
                },
                "message": {"type": "string", "examples": ["client_id is required"]},
                "field": {"type": ["string", "null"], "examples": ["client_id"]},
            },
        },
        "Resource": {
            "type": "object",
            "description": "A resource as the API returns it: snake_case fields, UUIDv4 ids, ISO 8601 UTC timestamps, "
            "money in integer cents. Fields are not described by the endpoint table.",
        },
    }
    for name, spec in types.items():
        schemas[_component_name(name)] = _type_schema(spec, types)
    responses: dict[str, Any] = {}
    for code, (name, text) in sorted(_ERRORS.items()):
        response_headers = {h: {"$ref": f"#/components/headers/{h}"} for h in _RATE_HEADERS}
        if code == 429:
            response_headers = {"Retry-After": {"$ref": "#/components/headers/Retry-After"}, **response_headers}
        responses[name] = {
            "description": text,
            "headers": response_headers,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    security = {
        "bearerAuth": {
            "type": "http",
            "scheme": "bearer",
            "description": "Personal API token (Settings → API), scoped to a user and organization: "
            "`Authorization: Bearer dvk_live_…`",
        }
    }
    return {"schemas": schemas, "responses": responses, "headers": headers, "securitySchemes": security}


def build_openapi(
    manifest: Manifest | None = None, *, server_url: str = SERVER_URL, include_sandbox: bool = False
) -> dict[str, Any]:
    """The OpenAPI 3.1 document: one operation per distinct (method, path) of the endpoint table.

    Sandbox-only endpoints (`sandbox_only` toolsets) are not part of the real API and are left out
    unless `include_sandbox` (then marked `x-sandbox-only: true`).
    """
    manifest = manifest or load_manifest()
    groups: dict[tuple[str, str], list[ToolSpec]] = {}
    for tool in manifest.tools:
        if tool.sandbox_only and not include_sandbox:
            continue
        if tool.method is not None and tool.path is not None:  # composite tools have no endpoint
            groups.setdefault((tool.method, tool.path), []).append(tool)
    order = {t.name: t.order for t in manifest.toolsets}
    rank: dict[str, int] = {}
    for (_, path), tools in groups.items():
        best = min(order[t.toolset] for t in tools)
        rank[path] = min(rank.get(path, best), best)
    paths: dict[str, dict[str, Any]] = {}
    for (method, path), tools in sorted(
        groups.items(), key=lambda kv: (rank[kv[0][1]], kv[0][1], _METHOD_ORDER.index(kv[0][0]))
    ):
        paths.setdefault(path, {})[method.lower()] = _operation(method, path, tools, manifest.types)
    used = {t.toolset for tools in groups.values() for t in tools}
    tags = [
        {"name": ts.name, "description": ts.description, "x-displayName": ts.title}
        for ts in manifest.toolsets
        if ts.name in used
    ]
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "dVersum API",
            "version": "1.0.0",
            "summary": "REST API v1 of the dVersum business platform",
            "description": "Generated by dversum-mcp from its endpoint table (the vendor's own OpenAPI spec is "
            "'coming soon'). Operations marked `x-source: inferred` are not in the published reference and were "
            "inferred from the product; their shapes may differ on the real API. Requests and responses are JSON; "
            "ids are UUIDv4, money is integer cents, timestamps ISO 8601 UTC. Errors are "
            f"`{{error, message, field}}`. Rate limit: {API_RATE_LIMIT} requests/minute per token.",
            "x-generated-by": f"dversum-mcp {__version__}",
        },
        "servers": [{"url": server_url, "description": "dVersum API v1"}],
        "security": [{"bearerAuth": []}],
        "tags": tags,
        "paths": paths,
        "components": _components(manifest.types),
    }


def write_openapi(output: str | None) -> int:
    """Write the document as JSON to `output` (stdout when None); the exit code."""
    document = build_openapi()
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if output is None or output == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return 0
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"dversum-mcp: cannot write {output}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    count = sum(len(ops) for ops in document["paths"].values())
    print(f"dversum-mcp: wrote OpenAPI {OPENAPI_VERSION} with {count} operations to {output}", file=sys.stderr)
    return 0
