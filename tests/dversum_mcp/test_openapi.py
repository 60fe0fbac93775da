"""The OpenAPI 3.1 document generated from the endpoint table: valid, complete, faithful to the table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from dversum_mcp.cli.main import main
from dversum_mcp.tools.manifest import load_manifest
from dversum_mcp.tools.openapi import SERVER_URL, build_openapi

METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return build_openapi()


def _operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): op
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in METHODS
    }


def _resolve(doc: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        parts = node["$ref"].removeprefix("#/").split("/")
        target: Any = doc
        for part in parts:
            target = target[part]
        node = target
    return node


def test_valid_openapi_31(doc: dict[str, Any]) -> None:
    assert doc["openapi"].startswith("3.1")
    validate(doc)  # raises on any violation
    assert doc["servers"] == [{"url": SERVER_URL, "description": "dVersum API v1"}]
    scheme = doc["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert doc["security"] == [{"bearerAuth": []}]


def _api_tools() -> list[Any]:
    """Tools with an endpoint of the real API (not composite, not sandbox-only)."""
    return [t for t in load_manifest().tools if t.method and t.path and not t.sandbox_only]


def test_every_table_endpoint_is_one_operation(doc: dict[str, Any]) -> None:
    manifest = load_manifest()
    table = {(t.method, t.path) for t in _api_tools()}
    ops = _operations(doc)
    assert set(ops) == table
    assert len(ops) >= 100
    ids = [op["operationId"] for op in ops.values()]
    assert len(ids) == len(set(ids))
    # Every tool with an endpoint is named by exactly one operation (operationId or x-mcp-tools).
    named = [n for op in ops.values() for n in (op["operationId"], *op.get("x-mcp-tools", []))]
    assert sorted(named) == sorted(t.name for t in _api_tools())
    for (method, path), op in ops.items():
        tools = [t for t in manifest.tools if (t.method, t.path) == (method, path)]
        assert op["x-source"] == ("documented" if any(t.source == "documented" for t in tools) else "inferred")
        assert op["tags"] == [next(t.toolset for t in tools if t.name == op["operationId"])]


def test_shared_endpoint_is_merged(doc: dict[str, Any]) -> None:
    op = doc["paths"]["/pages/{id}/content"]["put"]
    assert op["operationId"] == "replace_page_content"
    assert op["x-mcp-tools"] == ["append_to_page", "insert_into_page"]
    body = op["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["properties"]) == {"content"}  # heading / content_json are MCP-only (local)
    assert body["required"] == ["content"]  # append/insert must send it; replace fills it from content_json
    assert op["requestBody"]["required"] is True
    download = doc["paths"]["/storage/files/{id}/download"]["get"]
    assert download["operationId"] == "get_file_download_url"
    assert download["x-mcp-tools"] == ["download_file"]


def test_public_endpoints_have_no_security(doc: dict[str, Any]) -> None:
    manifest = load_manifest()
    ops = _operations(doc)
    public = {(t.method, t.path) for t in manifest.tools if t.public and t.method}
    assert public  # the booking pages at least
    for key, op in ops.items():
        if key in public:
            assert op["security"] == []
            assert "401" not in op["responses"]
        else:
            assert "security" not in op  # the document-wide bearerAuth applies
            assert "401" in op["responses"]


def test_local_params_are_left_out(doc: dict[str, Any]) -> None:
    ops = _operations(doc)
    for op in ops.values():
        names = {p["name"] for p in op.get("parameters", [])}
        assert not names & {"all_pages", "save_as", "overwrite", "content_json", "heading", "if_running", "duration"}
    get_page = ops["GET", "/pages/{id}"]
    assert [p["name"] for p in get_page["parameters"]] == ["id"]  # `format` is local


def test_create_invoice_request_body(doc: dict[str, Any]) -> None:
    op = doc["paths"]["/invoices"]["post"]
    assert op["operationId"] == "create_invoice"
    assert op["requestBody"]["required"] is True
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    assert schema["type"] == "object"
    assert schema["required"] == ["client_id", "line_items"]
    props = schema["properties"]
    assert set(props) == {
        "client_id",
        "issue_date",
        "due_date",
        "line_items",
        "project_id",
        "service_date",
        "service_period_start",
        "service_period_end",
        "tax_treatment",
        "exemption_reason",
        "notes",
    }
    assert props["issue_date"]["format"] == "date"
    assert props["line_items"]["type"] == "array"
    assert props["line_items"]["minItems"] == 1
    item = _resolve(doc, props["line_items"]["items"])
    assert item["required"] == ["description", "quantity", "unit_price_cents", "tax_rate"]
    assert item["properties"]["unit_price_cents"]["type"] == "integer"
    assert item["properties"]["tax_rate"]["maximum"] == 100
    assert set(op["responses"]) == {"201", "400", "401", "403", "404", "409", "422", "429"}
    created = op["responses"]["201"]["content"]["application/json"]["schema"]
    assert _resolve(doc, created)["type"] == "object"


def test_list_clients_query_params_and_envelope(doc: dict[str, Any]) -> None:
    op = doc["paths"]["/clients"]["get"]
    params = {p["name"]: p for p in op["parameters"]}
    assert set(params) == {"search", "page", "per_page"}
    assert all(p["in"] == "query" and p["required"] is False for p in params.values())
    assert params["per_page"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 100}
    assert params["page"]["schema"]["minimum"] == 1
    envelope = op["responses"]["200"]["content"]["application/json"]["schema"]
    assert envelope["required"] == ["clients", "total", "page", "per_page"]
    assert envelope["properties"]["clients"]["type"] == "array"
    assert "409" not in op["responses"]
    assert "requestBody" not in op


def test_path_params_and_statuses(doc: dict[str, Any]) -> None:
    ops = _operations(doc)
    payment = ops["DELETE", "/invoices/{id}/payments/{paymentId}"]
    assert [(p["name"], p["in"], p["required"]) for p in payment["parameters"]] == [
        ("id", "path", True),
        ("paymentId", "path", True),
    ]
    assert "204" in payment["responses"]
    assert "content" not in payment["responses"]["204"]
    assert "200" in ops["POST", "/invoices/{id}/send"]["responses"]
    assert "201" in ops["POST", "/public/booking/{user_slug}/{type_slug}/book"]["responses"]
    slug = ops["GET", "/public/booking/{user_slug}/{type_slug}"]["parameters"][0]["schema"]
    assert slug["pattern"].startswith("^")
    pdf = ops["GET", "/invoices/{id}/pdf"]["responses"]["200"]
    assert list(pdf["content"]) == ["application/pdf"]
    events = ops["GET", "/calendar/events"]
    assert {p["name"]: p["required"] for p in events["parameters"]} == {
        "from": True,
        "to": True,
        "page": False,
        "per_page": False,
    }
    assert events["parameters"][0]["schema"]["format"] == "date-time"


def test_upload_is_multipart(doc: dict[str, Any]) -> None:
    body = doc["paths"]["/storage/files"]["post"]["requestBody"]
    schema = body["content"]["multipart/form-data"]["schema"]
    assert schema["properties"]["file"]["format"] == "binary"
    assert "folder_id" in schema["properties"]
    assert schema["required"] == ["file"]
    assert "413" in doc["paths"]["/storage/files"]["post"]["responses"]


def test_errors_and_rate_limit_headers(doc: dict[str, Any]) -> None:
    components = doc["components"]
    error = components["schemas"]["Error"]
    assert error["required"] == ["error", "message"]
    assert set(error["properties"]) == {"error", "message", "field"}
    limited = components["responses"]["RateLimited"]
    assert "Retry-After" in limited["headers"]
    assert set(components["headers"]) >= {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"}
    for (_, _), op in _operations(doc).items():
        for code in ("400", "404", "422", "429"):
            assert op["responses"][code]["$ref"].startswith("#/components/responses/")
        success = next(v for k, v in op["responses"].items() if k.startswith("2"))
        assert "X-RateLimit-Remaining" in success["headers"]


def test_sandbox_only_endpoints(doc: dict[str, Any]) -> None:
    sandbox_tools = [t for t in load_manifest().tools if t.sandbox_only and t.method]
    assert all(t.path not in doc["paths"] for t in sandbox_tools)
    with_sandbox = build_openapi(include_sandbox=True)
    validate(with_sandbox)
    for tool in sandbox_tools:
        op = with_sandbox["paths"][tool.path][tool.method.lower()]
        assert op["x-sandbox-only"] is True
    if any(t.path == "/sandbox/outbox" for t in sandbox_tools):
        outbox = with_sandbox["paths"]["/sandbox/outbox"]["get"]["responses"]["200"]
        assert outbox["content"]["application/json"]["schema"]["required"][0] == "emails"


def test_tags_per_toolset(doc: dict[str, Any]) -> None:
    names = [t["name"] for t in doc["tags"]]
    assert names == [ts.name for ts in load_manifest().toolsets if not (ts.sandbox_only or ts.multi_user_only)]
    used = {op["tags"][0] for op in _operations(doc).values()}
    assert used == set(names)


def test_cli_writes_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "openapi.json"
    assert main(["openapi", "-o", str(out)]) == 0
    written = json.loads(out.read_text(encoding="utf-8"))
    validate(written)
    assert written == json.loads(json.dumps(build_openapi()))
    assert f"with {len(_operations(written))} operations" in capsys.readouterr().err


def test_cli_prints_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["openapi"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["openapi"] == "3.1.0"


def test_cli_unwritable_path(tmp_path: Path) -> None:
    assert main(["openapi", "-o", str(tmp_path / "missing" / "dir" / "openapi.json")]) == 1
