"""Method and path by tool name: the one way code reaches an endpoint other than through its own tool.

Resources, prompts, confirmations and hooks ask `Endpoints` for `get_page`'s endpoint instead
of writing `f"/pages/{page_id}"`, so every API path stays in the table (`tool_manifests/`).
Path parameters are named as in the table's path (`id`, `columnId`) and percent-encoded as
one segment each.
"""

from __future__ import annotations

from dversum_mcp.api.calls import fill_path
from dversum_mcp.tools.manifest import Manifest, ToolSpec

__all__ = ["Endpoints"]


class Endpoints:
    """`endpoints("get_page", id=page_id)` → `("GET", "/pages/<page_id>")`; implements `api.calls.EndpointLookup`."""

    def __init__(self, manifest: Manifest) -> None:
        self._tools = {t.name: t for t in manifest.tools}
        self._readers = {t.path: t.name for t in manifest.tools if t.method == "GET" and t.path is not None}

    def __call__(self, tool: str, /, **path_params: str) -> tuple[str, str]:
        spec = self._tools.get(tool)
        if spec is None or spec.method is None or spec.path is None:
            raise RuntimeError(f"the table has no endpoint for tool {tool!r}")
        unknown = sorted(set(path_params) - {p.wire_name for p in spec.params if p.where == "path"})
        if unknown:
            raise TypeError(f"{tool} has no path parameter(s) {', '.join(unknown)} (path {spec.path})")
        return spec.method, fill_path(spec.path, path_params)

    def reader(self, spec: ToolSpec) -> str | None:
        """The GET tool of the resource `spec` acts on (its path up to the last placeholder), if the table has one."""
        if spec.path is None or "{" not in spec.path:
            return None
        return self._readers.get(spec.path[: spec.path.rindex("}") + 1])
