"""Destructive tools ask the user through elicitation (both protocol eras); --no-confirm skips it."""

from __future__ import annotations

from typing import Any

import mcp_types as types
import pytest

from dversum_mcp.config import Secret, Settings
from dversum_mcp.server.confirm import format_eur
from tests.dversum_mcp.conftest import Harness, structured

pytestmark = pytest.mark.anyio


class Answers:
    def __init__(self, action: str, confirm: bool = True) -> None:
        self.action = action
        self.confirm = confirm
        self.messages: list[str] = []

    async def __call__(self, context: Any, params: Any) -> types.ElicitResult:
        self.messages.append(params.message)
        content = {"confirm": self.confirm} if self.action == "accept" else None
        return types.ElicitResult(action=self.action, content=content)  # type: ignore[arg-type]


async def _client_id(client: Any) -> str:
    created = await client.call_tool("create_client", {"name": "ATAS Vertriebs GmbH", "email": "kontakt@atas.de"})
    assert not created.is_error, created.content
    return str(structured(created)["id"])


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_accepted_confirmation_runs_the_action(harness: Harness, mode: str) -> None:
    answers = Answers("accept")
    async with harness.mcp(mode=mode, elicitation_callback=answers) as client:
        client_id = await _client_id(client)
        result = await client.call_tool("delete_client", {"client_id": client_id})
        assert not result.is_error, result.content
        assert answers.messages == ["Delete the client ATAS Vertriebs GmbH? This cannot be undone."]
        gone = await client.call_tool("get_client", {"client_id": client_id})
        assert gone.is_error and structured(gone)["status"] == 404


@pytest.mark.parametrize(
    ("mode", "action", "confirm"), [("legacy", "decline", True), ("auto", "cancel", True), ("legacy", "accept", False)]
)
async def test_declined_confirmation_changes_nothing(harness: Harness, mode: str, action: str, confirm: bool) -> None:
    answers = Answers(action, confirm)
    async with harness.mcp(mode=mode, elicitation_callback=answers) as client:
        client_id = await _client_id(client)
        before = len([r for r in harness.requests if r.method == "DELETE"])
        result = await client.call_tool("delete_client", {"client_id": client_id})
        assert result.is_error
        assert structured(result)["error"] == "declined_by_user"
        assert len([r for r in harness.requests if r.method == "DELETE"]) == before
        still = await client.call_tool("get_client", {"client_id": client_id})
        assert not still.is_error


async def test_no_question_without_elicitation_or_with_no_confirm(harness: Harness) -> None:
    async with harness.mcp() as client:  # the client declares no elicitation capability
        client_id = await _client_id(client)
        assert not (await client.call_tool("delete_client", {"client_id": client_id})).is_error
    answers = Answers("decline")
    settings = Settings(token=Secret(""), confirm=False)
    async with harness.mcp(settings=settings, elicitation_callback=answers) as client:
        client_id = await _client_id(client)
        assert not (await client.call_tool("delete_client", {"client_id": client_id})).is_error
    assert answers.messages == []


async def test_reads_and_invalid_calls_are_never_confirmed(harness: Harness) -> None:
    answers = Answers("accept")
    async with harness.mcp(elicitation_callback=answers) as client:
        assert not (await client.call_tool("list_clients", {})).is_error
        bad = await client.call_tool("delete_client", {"client_id": "../etc"})
        assert bad.is_error and structured(bad)["field"] == "client_id"
    assert answers.messages == []


def test_format_eur() -> None:
    assert format_eur(119000) == "1.190,00 €"
    assert format_eur(5) == "0,05 €"
    assert format_eur(-123456789) == "-1.234.567,89 €"
