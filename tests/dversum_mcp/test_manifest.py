"""The endpoint table → tools: valid, portable schemas; names; annotations; full API coverage."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from dversum_mcp.api.hooks import HOOKS
from dversum_mcp.tools.manifest import ManifestError, load_manifest, manifest_dir
from dversum_mcp.tools.registry import Registry

NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")

# Every endpoint the reference documents (method, path template).
DOCUMENTED = {
    ("POST", "/webhooks"),
    ("GET", "/clients"),
    ("POST", "/clients"),
    ("GET", "/clients/{id}"),
    ("PUT", "/clients/{id}"),
    ("DELETE", "/clients/{id}"),
    ("GET", "/projects"),
    ("POST", "/projects"),
    ("GET", "/projects/{id}/tasks"),
    ("PATCH", "/projects/{id}/status"),
    ("POST", "/tasks"),
    ("PATCH", "/tasks/{id}/move"),
    ("PATCH", "/tasks/{id}/toggle-done"),
    ("POST", "/tasks/{taskId}/comments"),
    ("GET", "/invoices"),
    ("POST", "/invoices"),
    ("POST", "/invoices/{id}/send"),
    ("GET", "/invoices/{id}/pdf"),
    ("POST", "/invoices/{id}/payments"),
    ("POST", "/invoices/{id}/credit-note"),
    ("POST", "/quotes"),
    ("POST", "/quotes/{id}/send"),
    ("POST", "/quotes/{id}/convert-to-invoice"),
    ("POST", "/time-entries/start"),
    ("POST", "/time-entries/{id}/stop"),
    ("POST", "/time-entries"),
    ("GET", "/calendar/events"),
    ("POST", "/calendar/events"),
    ("POST", "/pages"),
    ("PUT", "/pages/{id}/content"),
    ("GET", "/pages/tree"),
    ("POST", "/storage/files"),
    ("GET", "/storage/files/{id}/download"),
    ("POST", "/storage/shares/{fileId}"),
    ("GET", "/public/booking/{user_slug}/{type_slug}"),
    ("GET", "/public/booking/{user_slug}/{type_slug}/slots"),
    ("POST", "/public/booking/{user_slug}/{type_slug}/book"),
}

FORBIDDEN_KEYS = {"$ref", "$defs", "definitions", "oneOf", "anyOf", "allOf", "exclusiveMinimum", "exclusiveMaximum"}


def _walk(schema: Any, path: str, problems: list[str]) -> None:
    if not isinstance(schema, dict):
        return
    for key in FORBIDDEN_KEYS & schema.keys():
        problems.append(f"{path}: uses {key}")
    kind = schema.get("type")
    if "type" in schema and not isinstance(kind, str):
        problems.append(f"{path}: type must be a single string, got {kind!r}")
    if kind == "array" and "items" not in schema:
        problems.append(f"{path}: array without items")
    if "enum" in schema and not all(isinstance(v, str) for v in schema["enum"]):
        problems.append(f"{path}: non-string enum")
    if "format" in schema and schema["format"] != "date-time":
        problems.append(f"{path}: format {schema['format']}")
    if kind == "object" and "properties" in schema and not isinstance(schema.get("required", []), list):
        problems.append(f"{path}: required must be a list")
    for name, sub in schema.get("properties", {}).items():
        _walk(sub, f"{path}.{name}", problems)
    if "items" in schema:
        _walk(schema["items"], f"{path}[]", problems)


def test_at_least_100_tools_with_valid_names(registry: Registry) -> None:
    assert len(registry.tools) >= 100
    for name in registry.tools:
        assert NAME.match(name), name
        assert len("dversum_" + name) <= 60


def test_every_schema_is_valid_2020_12_and_portable(registry: Registry) -> None:
    problems: list[str] = []
    for tool in registry.tools.values():
        schema = tool.definition.input_schema
        Draft202012Validator.check_schema(schema)
        assert schema["type"] == "object"
        assert isinstance(schema["required"], list)
        _walk(schema, tool.spec.name, problems)
    assert problems == []


def test_annotations_and_descriptions_present(registry: Registry) -> None:
    for tool in registry.tools.values():
        ann = tool.definition.annotations
        assert ann is not None
        for hint in ("read_only_hint", "destructive_hint", "idempotent_hint", "open_world_hint"):
            assert isinstance(getattr(ann, hint), bool), (tool.spec.name, hint)
        description = tool.definition.description or ""
        assert 10 <= len(description) <= 120 and "\n" not in description, tool.spec.name
        if tool.spec.method == "DELETE":
            assert ann.destructive_hint
        if tool.spec.method == "GET":
            assert ann.read_only_hint


def test_every_documented_endpoint_has_a_documented_tool(registry: Registry) -> None:
    documented = {
        (t.spec.method, t.spec.path) for t in registry.tools.values() if t.spec.source == "documented" and t.spec.method
    }
    assert documented >= DOCUMENTED
    extra = {
        (t.spec.method, t.spec.path) for t in registry.tools.values() if t.spec.source == "documented"
    } - DOCUMENTED
    assert extra == set(), "tools marked documented that the reference does not document"


def test_money_page_and_enum_constraints(registry: Registry) -> None:
    schema = registry.tools["create_invoice"].schema
    line = schema["properties"]["line_items"]["items"]
    assert line["properties"]["unit_price_cents"]["type"] == "integer"
    assert registry.tools["record_invoice_payment"].schema["properties"]["amount_cents"]["minimum"] == 1
    assert set(registry.tools["record_invoice_payment"].schema["properties"]["method"]["enum"]) >= {"transfer", "cash"}
    per_page = registry.tools["list_clients"].schema["properties"]["per_page"]
    assert per_page["maximum"] == 100
    events = registry.tools["create_webhook"].schema["properties"]["events"]["items"]["enum"]
    assert len(events) == 50 and "invoice.paid" in events


def test_path_parameters_are_named_after_their_resource(registry: Registry) -> None:
    assert [p.name for p in registry.tools["get_client"].spec.params if p.where == "path"] == ["client_id"]
    assert [p.name for p in registry.tools["create_task_comment"].spec.params if p.where == "path"] == ["task_id"]
    assert [p.name for p in registry.tools["create_share_link"].spec.params if p.where == "path"] == ["file_id"]


def test_hooks_exist_and_inferred_marked() -> None:
    manifest = load_manifest(known_hooks=HOOKS)
    assert {t.hook for t in manifest.tools if t.hook} <= set(HOOKS)
    inferred = [t for t in manifest.tools if t.source == "inferred"]
    assert len(inferred) > 50


def _copy_table(tmp_path: Path) -> Path:
    target = tmp_path / "manifests"
    target.mkdir()
    for source in manifest_dir().glob("*.toml"):
        (target / source.name).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    return target


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda s: s.replace('name = "get_client"', 'name = "Get-Client"'), "clients.toml, tool 'Get-Client'"),
        (lambda s: s.replace('name = "get_client"', 'name = "list_clients"'), "duplicate tool name"),
        (lambda s: s.replace('path = "/clients/{id}"', 'path = "/clients/{clientId}"', 1), "path placeholders"),
        (
            lambda s: s.replace("readOnlyHint = true, destructiveHint = false, idempotentHint = true, ", "", 1),
            "clients.toml, tool 'list_clients'",
        ),
        (lambda s: s.replace('type = "string", required = true, maxLength = 200', 'type = "text"', 1), "clients.toml"),
        (lambda s: s + "\n[[tool]]\nname = 'x'\n", "clients.toml"),
    ],
)
def test_malformed_entries_fail_loudly_naming_file_and_entry(tmp_path: Path, edit: Any, expected: str) -> None:
    root = _copy_table(tmp_path)
    path = root / "clients.toml"
    path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(ManifestError) as info:
        load_manifest(root, known_hooks=HOOKS)
    assert expected in str(info.value)


def test_unknown_hook_fails(tmp_path: Path) -> None:
    root = _copy_table(tmp_path)
    path = root / "time.toml"
    path.write_text(path.read_text(encoding="utf-8").replace('hook = "stop_timer"', 'hook = "stop_timerz"'))
    with pytest.raises(ManifestError, match=r"time\.toml, tool 'stop_timer': unknown hook"):
        load_manifest(root, known_hooks=HOOKS)


def test_every_table_key_is_documented_in_the_tables_readme() -> None:
    from dversum_mcp.tools.manifest import ParamSpec, _RawFile, _RawTool, _RawToolset

    readme = (manifest_dir() / "README.md").read_text(encoding="utf-8")
    keys = set()
    for model in (_RawFile, _RawTool, _RawToolset, ParamSpec):
        keys |= {info.alias or name for name, info in model.model_fields.items()}
    spelled = ("{} =", "`{}`", "[{}]")  # a key, a key in prose, a table ([toolset], [[tool]])
    undocumented = sorted(k for k in keys if not any(form.format(k) in readme for form in spelled))
    assert undocumented == []
