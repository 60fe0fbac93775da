"""Argument decoding: lenient where clients are sloppy (JSON strings, "8", "true", null), strict elsewhere."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dversum_mcp.api.errors import ArgumentError
from dversum_mcp.tools.registry import Registry
from dversum_mcp.tools.schema import validate_arguments


def _validate(registry: Registry, tool: str, args: Any) -> dict[str, Any]:
    generated = registry.tools[tool]
    return validate_arguments(generated.spec, generated.schema, args)


LINE = {"description": "Beratung", "quantity": 8, "unit_price_cents": 12500, "tax_rate": 19}


def test_lenient_decoding(registry: Registry) -> None:
    out = _validate(registry, "list_clients", {"page": "2", "per_page": 50.0, "search": None})
    assert out == {"page": 2, "per_page": 50}
    out = _validate(registry, "list_projects", {"archived": "TRUE"})
    assert out == {"archived": True}
    out = _validate(registry, "create_invoice", {"client_id": "c1", "line_items": json.dumps([LINE])})
    assert out["line_items"] == [LINE]
    out = _validate(registry, "create_task", {"project_id": "p1", "title": "x", "assignee_ids": '["u1","u2"]'})
    assert out["assignee_ids"] == ["u1", "u2"]
    assert _validate(registry, "list_clients", json.dumps({"search": "ATAS"})) == {"search": "ATAS"}


@pytest.mark.parametrize(
    ("tool", "args", "field", "words"),
    [
        ("list_clients", {"page": "2.5"}, "page", "integer"),
        ("list_clients", {"page": 0}, "page", "≥ 1"),
        ("list_clients", {"per_page": 101}, "per_page", "≤ 100"),
        ("list_clients", {"serch": "x"}, "serch", "unknown argument"),
        ("list_projects", {"archived": "yes"}, "archived", "true or false"),
        ("get_client", {}, "client_id", "required"),
        ("get_client", {"client_id": "a/b"}, "client_id", "id"),
        ("get_client", {"client_id": ".."}, "client_id", "id"),
        ("get_client", {"client_id": "a%2Fb"}, "client_id", "id"),
        ("get_client", {"client_id": "a b"}, "client_id", "id"),
        ("get_client", {"client_id": "a?x=1"}, "client_id", "id"),
        ("get_client", {"client_id": "x" * 200}, "client_id", "id"),
        ("create_invoice", {"client_id": "c", "line_items": []}, "line_items", "at least 1"),
        (
            "create_invoice",
            {"client_id": "c", "line_items": [{**LINE, "unit_price_cents": 1.5}]},
            "line_items[0].unit_price_cents",
            "integer",
        ),
        (
            "create_invoice",
            {"client_id": "c", "line_items": [{"description": "x"}]},
            "line_items[0].quantity",
            "required",
        ),
        (
            "create_invoice",
            {"client_id": "c", "line_items": [LINE], "issue_date": "2026-02-30"},
            "issue_date",
            "calendar date",
        ),
        (
            "create_invoice",
            {"client_id": "c", "line_items": [LINE], "due_date": "19.06.2026"},
            "due_date",
            "YYYY-MM-DD",
        ),
        ("record_invoice_payment", {"invoice_id": "i", "amount_cents": 0}, "amount_cents", "≥ 1"),
        ("record_invoice_payment", {"invoice_id": "i", "amount_cents": 5, "method": "bitcoin"}, "method", "one of"),
        (
            "create_calendar_event",
            {"title": "x", "start_time": "12.06.2026 10:00", "end_time": "2026-06-12T11:00:00Z"},
            "start_time",
            "ISO 8601",
        ),
        (
            "create_calendar_event",
            {"title": "x", "start_time": "2026-06-12T10:00:00", "end_time": "2026-06-12T11:00:00Z"},
            "start_time",
            "time zone",
        ),
        ("create_webhook", {"url": "https://x", "events": ["invoice.payed"]}, "events[0]", "one of"),
        ("create_client", {"name": "a\x00b"}, "name", "NUL"),
    ],
)
def test_strict_rules_name_the_field(registry: Registry, tool: str, args: Any, field: str, words: str) -> None:
    with pytest.raises(ArgumentError) as info:
        _validate(registry, tool, args)
    assert info.value.field == field
    assert words in info.value.message


def test_arguments_must_be_an_object(registry: Registry) -> None:
    with pytest.raises(ArgumentError):
        _validate(registry, "list_clients", ["x"])
