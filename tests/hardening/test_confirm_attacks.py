"""Confirmations fail closed: a broken question never runs the action; a sealed answer confirms
only the call it was asked for, by the caller it was asked of, within its lifetime; every tool
that e-mails a client or moves money asks first; nothing is asked about what does not exist.

Each attack counts in `SUMMARY["confirm attacks"]`; a held attack changes nothing in the sandbox.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server import request_state as sdk_request_state
from mcp.shared.exceptions import MCPError

from dversum_mcp.config import Secret, Settings
from dversum_mcp.server.handlers import ServerState, build_server
from dversum_mcp.tools.registry import Selection
from dversum_mcp.transports import http as transports
from tests.dversum_mcp.conftest import Harness, structured
from tests.dversum_mcp.test_http_transports import _serve
from tests.hardening.attack_support import Tally, make_harness

pytestmark = pytest.mark.anyio
CONFIRM_KEY = "dversum_confirm"
TALLY = Tally("confirmation")
_count = TALLY.count


@pytest.fixture(name="harness")
def _harness(tmp_path: Path) -> Iterator[Harness]:
    harness = make_harness(tmp_path)
    yield harness
    harness.app.db.close()


async def _new_client(client: Any, name: str = "Opfer GmbH") -> str:
    email = name.split()[0].lower() + "@example.org"
    # a complete §14 buyer address, so invoices to this client can be sent
    address = {"street": "Hauptstraße 1", "postal_code": "10115", "city": "Berlin", "country": "DE"}
    created = await client.call_tool("create_client", {"name": name, "email": email, **address})
    assert not created.is_error, created.content
    return str(structured(created)["id"])


def _clients(harness: Harness) -> set[str]:
    with harness.app.db.transaction():
        return {str(r["id"]) for r in harness.app.db.all("SELECT id FROM clients WHERE org_id = ?", (harness.org_id,))}


# ---- the question fails: nothing runs --------------------------------------------------------------
async def _raise(context: Any, params: Any) -> types.ElicitResult:
    raise RuntimeError("the client's dialog crashed")


async def _error_data(context: Any, params: Any) -> types.ErrorData:
    return types.ErrorData(code=-32603, message="elicitation broke")


def _answer(content: Any, action: str = "accept") -> Any:
    async def answer(context: Any, params: Any) -> types.ElicitResult:
        return types.ElicitResult.model_construct(action=action, content=content)

    return answer


async def _hang(context: Any, params: Any) -> types.ElicitResult:
    await anyio.sleep(60)
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    "callback",
    [_raise, _error_data, _answer({"confirm": "yes"}), _answer({}), _answer(None), _answer({"confirm": 1}), _hang],
    ids=["raises", "error-answer", "confirm-string", "confirm-missing", "no-content", "confirm-int", "hangs"],
)
async def test_a_failed_question_never_runs_the_action(harness: Harness, callback: Any) -> None:
    settings = Settings(token=Secret(""), call_timeout_s=3.0)
    async with harness.mcp(settings=settings, elicitation_callback=callback) as client:
        client_id = await _new_client(client)
        result = await client.call_tool("delete_client", {"client_id": client_id})
    held = result.is_error and client_id in _clients(harness)
    _count(held)
    assert held, f"delete_client ran although the confirmation failed: {result.content}"
    assert structured(result)["error"] == "confirmation_failed"


# ---- 2026-07-28 sealed request state ----------------------------------------------------------------
ACCEPT = types.ElicitResult(action="accept", content={"confirm": True})
YES = _answer({"confirm": True})


async def _ask(client: Client, tool: str, arguments: dict[str, Any]) -> types.InputRequiredResult:
    first = await client.session.call_tool(tool, arguments, allow_input_required=True)
    assert isinstance(first, types.InputRequiredResult), first
    assert first.request_state
    return first


async def _retry(client: Client, tool: str, arguments: dict[str, Any], state: str) -> Any:
    try:
        return await client.session.call_tool(
            tool, arguments, input_responses={CONFIRM_KEY: ACCEPT}, request_state=state, allow_input_required=True
        )
    except MCPError as exc:
        return exc


def _refused(answer: Any) -> bool:
    """A retry is refused when it raised, asked again, or answered an error; never when it ran."""
    return isinstance(answer, MCPError | types.InputRequiredResult) or bool(getattr(answer, "is_error", False))


def _tamper(state: str) -> list[str]:
    middle = len(state) // 2
    flipped = state[:middle] + ("A" if state[middle] != "A" else "B") + state[middle + 1 :]
    return [flipped, state + "A", state[:-2], "", "x" * len(state), state.swapcase()]


async def test_tampered_request_state_confirms_nothing(harness: Harness) -> None:
    async with harness.mcp(mode="auto", elicitation_callback=_answer({"confirm": True})) as client:
        client_id = await _new_client(client)
        asked = await _ask(client, "delete_client", {"client_id": client_id})
        assert asked.request_state is not None
        for forged in _tamper(asked.request_state):
            answer = await _retry(client, "delete_client", {"client_id": client_id}, forged)
            held = _refused(answer) and client_id in _clients(harness)
            _count(held)
            assert held, f"a tampered state ran the call: {forged!r}"


async def test_state_for_one_call_does_not_confirm_another(harness: Harness) -> None:
    async with harness.mcp(mode="auto", elicitation_callback=_answer({"confirm": True})) as client:
        first = await _new_client(client, "Erste GmbH")
        second = await _new_client(client, "Zweite GmbH")
        asked = await _ask(client, "delete_client", {"client_id": first})
        assert asked.request_state is not None
        answer = await _retry(client, "delete_client", {"client_id": second}, asked.request_state)
        held = _refused(answer) and second in _clients(harness)
        _count(held)
        assert held
        other_tool = await _retry(client, "delete_project", {"project_id": first}, asked.request_state)
        _count(_refused(other_tool))
        assert _refused(other_tool)


class _Later:
    """`time` for the SDK's request-state module, 11 minutes ahead: the only way to be past the
    TTL without waiting for it (the sealed state carries the wall-clock times)."""

    @staticmethod
    def time() -> float:
        return time.time() + 660.0


async def test_replay_after_expiry_confirms_nothing(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    async with harness.mcp(mode="auto", elicitation_callback=_answer({"confirm": True})) as client:
        client_id = await _new_client(client)
        asked = await _ask(client, "delete_client", {"client_id": client_id})
        assert asked.request_state is not None
        monkeypatch.setattr(sdk_request_state, "time", _Later)
        answer = await _retry(client, "delete_client", {"client_id": client_id}, asked.request_state)
    held = _refused(answer) and client_id in _clients(harness)
    _count(held)
    assert held, "a confirmation replayed after its lifetime ran the call"


async def test_replay_on_another_server_confirms_nothing(harness: Harness) -> None:
    async with harness.mcp(mode="auto") as creator:
        client_id = await _new_client(creator)
    yes = _answer({"confirm": True})
    async with (
        harness.mcp(mode="auto", elicitation_callback=yes) as first,
        harness.mcp(mode="auto", elicitation_callback=yes) as second,
    ):
        asked = await _ask(first, "delete_client", {"client_id": client_id})
        assert asked.request_state is not None
        answer = await _retry(second, "delete_client", {"client_id": client_id}, asked.request_state)
    held = _refused(answer) and client_id in _clients(harness)
    _count(held)
    assert held


async def test_replay_by_another_caller_confirms_nothing(harness: Harness) -> None:
    """Two callers of one HTTP server (different credentials): Bob cannot use Alice's answer."""
    state = ServerState(Settings(token=Secret("")), harness.registry, harness.api_client(), Selection(sandbox=True))
    app = transports.http_app(build_server(state), host="127.0.0.1")
    async with harness.mcp() as creator:
        client_id = await _new_client(creator)
    with _serve(app) as base:
        alice = httpx2.AsyncClient(headers={"Authorization": "Bearer alice-credential"}, timeout=20)
        bob = httpx2.AsyncClient(headers={"Authorization": "Bearer bob-credential"}, timeout=20)
        async with (
            alice,
            bob,
            Client(streamable_http_client(f"{base}/mcp", http_client=alice), elicitation_callback=YES) as a,
            Client(streamable_http_client(f"{base}/mcp", http_client=bob), elicitation_callback=YES) as b,
        ):
            asked = await _ask(a, "delete_client", {"client_id": client_id})
            assert asked.request_state is not None
            answer = await _retry(b, "delete_client", {"client_id": client_id}, asked.request_state)
            held = _refused(answer) and client_id in _clients(harness)
            _count(held)
            assert held, "another caller's replay ran the call"
            own = await _retry(a, "delete_client", {"client_id": client_id}, asked.request_state)
            assert not _refused(own), own  # the caller who was asked can still confirm
            assert client_id not in _clients(harness)


async def test_key_ring_first_seals_all_unseal(harness: Harness) -> None:
    """Servers sharing keys (behind one balancer) accept each other's states; rotation works."""
    old, new = b"o" * 32, b"n" * 32
    async with harness.mcp() as creator:
        client_id = await _new_client(creator)

    def server(keys: tuple[bytes, ...]) -> Any:
        state = ServerState(
            Settings(token=Secret("")), harness.registry, harness.api_client(), Selection(sandbox=True), state_keys=keys
        )
        return build_server(state)

    async with (
        Client(server((old,)), mode="auto", elicitation_callback=YES) as before,
        Client(server((new, old)), mode="auto", elicitation_callback=YES) as after,
    ):
        asked = await _ask(before, "delete_client", {"client_id": client_id})
        assert asked.request_state is not None
        assert not _refused(await _retry(after, "delete_client", {"client_id": client_id}, asked.request_state))
    async with Client(server((new,)), mode="auto", elicitation_callback=YES) as rotated:
        again = await _new_client(rotated)
    async with (
        Client(server((old,)), mode="auto", elicitation_callback=YES) as stale,
        Client(server((new,)), mode="auto", elicitation_callback=YES) as current,
    ):
        asked = await _ask(stale, "delete_client", {"client_id": again})
        assert asked.request_state is not None
        assert _refused(await _retry(current, "delete_client", {"client_id": again}, asked.request_state))


# ---- every mail and every money movement asks; 404 before the question ------------------------
class Recorder:
    def __init__(self, action: str = "decline") -> None:
        self.action = action
        self.messages: list[str] = []

    async def __call__(self, context: Any, params: Any) -> types.ElicitResult:
        self.messages.append(params.message)
        content = {"confirm": True} if self.action == "accept" else None
        return types.ElicitResult(action=self.action, content=content)  # type: ignore[arg-type]


async def _sent_invoice(client: Any) -> tuple[str, str]:
    client_id = await _new_client(client, "Zahler GmbH")
    invoice = await client.call_tool(
        "create_invoice",
        {
            "client_id": client_id,
            "line_items": [{"description": "Beratung", "quantity": 1, "unit_price_cents": 100000, "tax_rate": 19}],
        },
    )
    assert not invoice.is_error, invoice.content
    invoice_id = str(structured(invoice)["id"])
    return client_id, invoice_id


async def test_mail_and_money_tools_ask_first(harness: Harness) -> None:
    yes = Recorder("accept")
    async with harness.mcp(elicitation_callback=yes) as client:
        client_id, invoice_id = await _sent_invoice(client)
        sent = await client.call_tool("send_invoice", {"invoice_id": invoice_id})
        assert not sent.is_error, sent.content
        paid = await client.call_tool("record_invoice_payment", {"invoice_id": invoice_id, "amount_cents": 25000})
        assert not paid.is_error, paid.content
        payment_id = str(structured(paid)["payment"]["id"])
        quote = await client.call_tool(
            "create_quote",
            {
                "client_id": client_id,
                "line_items": [{"description": "Konzept", "quantity": 1, "unit_price_cents": 50000, "tax_rate": 19}],
            },
        )
        assert not quote.is_error, quote.content
        quote_id = str(structured(quote)["id"])
    assert any("250,00 €" in m and "Zahler GmbH" in m for m in yes.messages), yes.messages
    no = Recorder("decline")
    calls = {
        "send_quote": {"quote_id": quote_id},
        "send_invoice_reminder": {"invoice_id": invoice_id},
        "record_invoice_payment": {"invoice_id": invoice_id, "amount_cents": 1000},
        "delete_invoice_payment": {"invoice_id": invoice_id, "payment_id": payment_id},
    }
    async with harness.mcp(elicitation_callback=no) as client:
        for tool, arguments in calls.items():
            writes = len([r for r in harness.requests if r.method != "GET"])
            result = await client.call_tool(tool, arguments)
            held = result.is_error and structured(result)["error"] == "declined_by_user"
            held = held and len([r for r in harness.requests if r.method != "GET"]) == writes
            _count(held)
            assert held, f"{tool} ran without asking: {result.content}"
    assert len(no.messages) == len(calls)
    by_tool = dict(zip(calls, no.messages, strict=True))
    assert "10,00 €" in by_tool["record_invoice_payment"] and "Zahler GmbH" in by_tool["record_invoice_payment"]
    assert "250,00 €" in by_tool["delete_invoice_payment"]
    assert "Zahler GmbH" in by_tool["send_quote"] and "595,00 €" in by_tool["send_quote"]
    assert "Zahler GmbH" in by_tool["send_invoice_reminder"]


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("delete_client", {"client_id": "c_gibtsnicht"}),
        ("send_invoice", {"invoice_id": "i_gibtsnicht"}),
        ("cancel_contract", {"contract_id": "k_gibtsnicht"}),
        ("record_invoice_payment", {"invoice_id": "i_gibtsnicht", "amount_cents": 100}),
        ("delete_invoice_payment", {"invoice_id": "i_gibtsnicht", "payment_id": "p_gibtsnicht"}),
    ],
)
async def test_nothing_is_asked_about_what_does_not_exist(
    harness: Harness, tool: str, arguments: dict[str, Any]
) -> None:
    asked = Recorder("accept")
    async with harness.mcp(elicitation_callback=asked) as client:
        result = await client.call_tool(tool, arguments)
    held = asked.messages == [] and result.is_error and structured(result).get("status") == 404
    _count(held)
    assert held, f"{tool} asked {asked.messages} about a missing resource: {result.content}"


async def test_missing_payment_on_a_real_invoice_is_404_before_asking(harness: Harness) -> None:
    asked = Recorder("accept")
    async with harness.mcp() as setup:
        _, invoice_id = await _sent_invoice(setup)
    async with harness.mcp(elicitation_callback=asked) as client:
        result = await client.call_tool("delete_invoice_payment", {"invoice_id": invoice_id, "payment_id": "p_nope"})
    held = asked.messages == [] and result.is_error and structured(result).get("status") == 404
    _count(held)
    assert held, result.content


async def test_items_without_their_own_get_are_found_in_their_collection(harness: Harness) -> None:
    """Columns, comments, folders and booking types have no item GET: the question still names
    them (found in their list), and nothing is asked about one that is not there."""
    async with harness.mcp() as setup:
        project = structured(await setup.call_tool("create_project", {"name": "Relaunch"}))
        columns = structured(await setup.call_tool("list_project_columns", {"project_id": project["id"]}))
        column = next(v for v in columns.values() if isinstance(v, list))[0]
        task = structured(await setup.call_tool("create_task", {"project_id": project["id"], "title": "Logo"}))
        comment = structured(await setup.call_tool("create_task_comment", {"task_id": task["id"], "content": "ok"}))
        folder = structured(await setup.call_tool("create_folder", {"name": "Archiv"}))
    calls = {
        "delete_project_column": {"project_id": project["id"], "column_id": column["id"]},
        "delete_task_comment": {"task_id": task["id"], "comment_id": comment["id"]},
        "delete_folder": {"folder_id": folder["id"]},
    }
    no = Recorder("decline")
    async with harness.mcp(elicitation_callback=no) as client:
        for tool, arguments in calls.items():
            result = await client.call_tool(tool, arguments)
            assert structured(result)["error"] == "declined_by_user", (tool, result.content)
            missing = {**arguments, list(arguments)[-1]: "gibtsnicht"}
            gone = await client.call_tool(tool, missing)
            assert structured(gone).get("status") == 404, (tool, gone.content)
    assert len(no.messages) == len(calls)
    assert any("Archiv" in m for m in no.messages), no.messages
