"""Every endpoint of the tool table has a sandbox route (and no tool points nowhere)."""

from __future__ import annotations

import re

from dversum_mcp.tools.registry import Registry
from dversum_sandbox.app import endpoints


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def test_every_table_endpoint_has_a_route() -> None:
    routes = {(ep.method, _shape(ep.path)) for ep in endpoints()}
    missing = [
        (t.spec.name, t.spec.method, t.spec.path)
        for t in Registry().tools.values()
        if t.spec.method and (t.spec.method, _shape(t.spec.path or "")) not in routes
    ]
    assert missing == []


def test_public_flags_agree() -> None:
    public = {(ep.method, _shape(ep.path)) for ep in endpoints() if ep.public}
    for tool in Registry().tools.values():
        if tool.spec.method and tool.spec.public:
            assert (tool.spec.method, _shape(tool.spec.path or "")) in public, tool.spec.name
