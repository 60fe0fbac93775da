"""Confirmations: destructive and irreversible tools ask the user first, when the client can ask.

The question names what will happen ("Send the draft invoice for 1.190,00 € to ATAS
Vertriebs GmbH? …"), filled from the target resource (fetched with one GET) and the table
entry's `confirm` template (`{args.x}` names an argument). The target is fetched before
asking, so a call on something that does not exist gets its 404, not a question.
Handshake-era clients get an `elicitation/create` request; on 2026-07-28 the call answers
`InputRequiredResult` and the client retries with the answer. Its `request_state` is sealed
by the SDK's `RequestStateBoundary` (AES-256-GCM, expiry, bound to the tool, its arguments
and the caller), so an answer can only confirm the call it was asked for, within the TTL.
The key set is injectable (first key seals, every key unseals) for servers that share it.

Fail closed: when the client advertised elicitation but asking fails (transport error,
timeout, malformed answer), the call stops with `confirmation_failed`. Clients without
elicitation, and `--no-confirm`, run the action as before.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import unquote

import anyio
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.request_state import RequestStateBoundary, RequestStateSecurity, authenticated_principal
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from dversum_mcp.api.calls import fill_path
from dversum_mcp.api.client import ApiClient
from dversum_mcp.api.errors import ApiError, ArgumentError, DversumError
from dversum_mcp.tools.endpoints import Endpoints
from dversum_mcp.tools.manifest import ToolSpec
from dversum_mcp.tools.registry import GeneratedTool
from dversum_mcp.tools.schema import validate_arguments

__all__ = [
    "CONFIRM_KEY",
    "STATE_AUDIENCE",
    "ConfirmationFailed",
    "Confirmer",
    "Declined",
    "caller_identity",
    "format_eur",
]

log = logging.getLogger("dversum_mcp")
CONFIRM_KEY = "dversum_confirm"
STATE_AUDIENCE = "dversum-mcp"
_MAX_LIST_PAGES = 10
_STATE = "dversum-confirm/v1"
"""The plaintext request state; the boundary seals it with the call's binding and expiry."""
_FIELD = re.compile(r"\{([a-z_.]+)(\|eur)?\}")
_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"confirm": {"type": "boolean", "title": "Go ahead", "default": True}},
    "required": ["confirm"],
}


class Declined(DversumError):
    """The user declined (or dismissed) the confirmation; nothing was changed."""

    code = "declined_by_user"


class ConfirmationFailed(DversumError):
    """The client can ask the user, but asking failed; nothing was changed (fail closed)."""

    code = "confirmation_failed"


class NeedsInput(Exception):
    """Carries an InputRequiredResult (2026-07-28 round trip) up to the call handler, which returns it."""

    def __init__(self, result: types.InputRequiredResult) -> None:
        super().__init__("input required")
        self.result = result


def format_eur(cents: Any) -> str:
    """12500 → `125,00 €` (German format)."""
    if isinstance(cents, bool) or not isinstance(cents, int | float):
        return str(cents)
    value = Decimal(int(cents)) / 100
    sign = "-" if value < 0 else ""
    whole, frac = f"{abs(value):.2f}".split(".")
    grouped = f"{int(whole):,}".replace(",", ".")
    return f"{sign}{grouped},{frac} €"


def _lookup(data: Mapping[str, Any], dotted: str) -> Any:
    value: Any = data
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _display(resource: Mapping[str, Any]) -> str | None:
    for key in ("name", "title", "number", "subject", "email", "url"):
        value = resource.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _resource_path(spec: ToolSpec) -> str | None:
    """The GET path of the resource a tool acts on: the path up to its last placeholder (a singleton's own path)."""
    if spec.path is not None and "{" not in spec.path and spec.method in ("PUT", "PATCH"):
        return spec.path  # e.g. PUT /organization: GET /organization reads what it changes
    if spec.path is None or "{" not in spec.path:
        return None
    return spec.path[: spec.path.rindex("}") + 1]


def caller_identity(ctx: ServerRequestContext[Any, Any]) -> str | None:
    """Who a sealed confirmation is bound to: the OAuth principal, else a digest of the HTTP
    credential. None (unbound) on stdio, where the process has exactly one client, and on
    unauthenticated loopback HTTP; 2026-07-28 has no session to bind to beyond these."""
    principal = authenticated_principal(ctx)
    if principal is not None:
        return "principal:" + principal
    headers = getattr(ctx.request, "headers", None)
    credential = headers.get("authorization") if headers is not None else None
    if credential:
        return "credential:" + hashlib.sha256(str(credential).encode()).hexdigest()
    return None


class Confirmer:
    def __init__(
        self,
        client: ApiClient,
        endpoint: Endpoints,
        *,
        keys: Sequence[bytes | str] = (),
        ttl_s: float = 600.0,
    ) -> None:
        """`keys`: the request-state key ring (first seals, all unseal; each >= 32 bytes);
        empty: one random key for this process."""
        self.client = client
        self.endpoint = endpoint
        security = RequestStateSecurity(
            keys=list(keys) or [secrets.token_bytes(32)], ttl=ttl_s, bind_principal=caller_identity
        )
        self.boundary = RequestStateBoundary(security, default_audience=STATE_AUDIENCE)
        """Server middleware: seals outgoing and verifies incoming request state."""

    async def confirm(
        self,
        ctx: ServerRequestContext[Any, Any],
        tool: GeneratedTool,
        arguments: Any,
        params: types.CallToolRequestParams,
        deadline: float | None = None,
    ) -> None:
        """Ask the user before a destructive, mailing or money-moving call when the client can;
        raise `Declined` on a no and `ConfirmationFailed` when asking fails (also when no answer
        comes before `deadline`, a `time.monotonic()` value)."""
        spec = tool.spec
        if not (spec.destructive or spec.confirm) or not _can_elicit(ctx):
            return
        args = validate_arguments(spec, tool.schema, arguments)  # never ask about an invalid call
        path_args = {p.wire_name: str(args[p.name]) for p in spec.params if p.where == "path" and p.name in args}
        if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            verdict = self.answered(params)
            if verdict is None:
                question = self.question(spec, await self.target(spec, path_args), path_args, args)
                raise NeedsInput(self.input_required(question))
        else:
            question = self.question(spec, await self.target(spec, path_args), path_args, args)
            wait = None if deadline is None else max(0.1, deadline - time.monotonic())
            try:
                with anyio.fail_after(wait):
                    answer = await ctx.session.elicit_form(question, _SCHEMA, related_request_id=ctx.request_id)
            except Exception as exc:  # the client said it can ask; when asking fails, nothing runs
                log.info("confirmation for %s could not be asked", spec.name, exc_info=True)
                raise ConfirmationFailed(
                    f"Could not ask the user to confirm {spec.name} ({type(exc).__name__}); nothing was changed.",
                    hint="Ask the user in the chat whether to go ahead, then call again.",
                ) from None
            verdict = accepted(answer)
        if verdict is None:
            raise ConfirmationFailed(
                f"The confirmation answer for {spec.name} was malformed; nothing was changed.",
                hint="Ask the user in the chat whether to go ahead, then call again.",
            )
        if not verdict:
            raise Declined(
                f"The user declined {spec.name}; nothing was changed.",
                hint="Do not retry unless the user asks for it again.",
            )

    async def target(self, spec: ToolSpec, path_args: Mapping[str, str]) -> Mapping[str, Any]:
        """The resource the call acts on, fetched before asking: an API error (404 first of all)
        is raised, so nothing is asked about what does not exist."""
        reader = self.endpoint.reader(spec)  # the table's GET tool for the resource this tool acts on
        if reader is not None:
            response = await self.client.request(*self.endpoint(reader, **path_args))
            return response.data if isinstance(response.data, Mapping) else {}
        path = _resource_path(spec)
        if path is None:
            return {}
        try:
            filled = fill_path(path, path_args)
        except ArgumentError:  # a path argument missing: ask without details
            return {}
        # The table has no GET for the item itself (an invoice payment, a comment): find it in its collection.
        parent, _, item_id = filled.rpartition("/")
        wanted = unquote(item_id)
        for page in range(1, _MAX_LIST_PAGES + 1):
            response = await self.client.request("GET", parent, query={"page": page, "per_page": 100})
            data = response.data
            items: list[Any] | None = None
            total: Any = None
            if isinstance(data, list):
                items = data
            elif isinstance(data, Mapping):
                items = next((v for v in data.values() if isinstance(v, list)), None)
                total = data.get("total")
            if items is None:
                return {}  # an answer of another shape: ask without details
            for item in items:
                if isinstance(item, Mapping) and str(item.get("id")) == wanted:
                    return item
            if not items or not isinstance(total, int) or page * 100 >= total:
                noun = parent.rsplit("/", 1)[-1].rstrip("s") or "item"
                raise ApiError(404, "not_found", f"No {noun} {wanted} at {parent}")
        return {}  # a very long collection: ask without details rather than guess

    def question(
        self,
        spec: ToolSpec,
        resource: Mapping[str, Any],
        path_args: Mapping[str, str],
        args: Mapping[str, Any],
    ) -> str:
        if spec.confirm and resource:

            def fill(match: re.Match[str]) -> str:
                dotted = match.group(1)
                value = _lookup(args, dotted[5:]) if dotted.startswith("args.") else _lookup(resource, dotted)
                if value is None:
                    return "?"
                return format_eur(value) if match.group(2) else str(value)

            return _FIELD.sub(fill, spec.confirm)
        target = _display(resource) or ", ".join(f"{v}" for v in path_args.values()) or "this"
        return f"{spec.title}: {target}? This cannot be undone."

    # ---- 2026-07-28: InputRequiredResult round trip ------------------------------------------
    def input_required(self, message: str) -> types.InputRequiredResult:
        """The question; `request_state` leaves as plaintext and is sealed by `self.boundary`."""
        request = types.ElicitRequest(params=types.ElicitRequestFormParams(message=message, requested_schema=_SCHEMA))
        return types.InputRequiredResult(input_requests={CONFIRM_KEY: request}, request_state=_STATE)

    @staticmethod
    def answered(params: types.CallToolRequestParams) -> bool | None:
        """True/False when this retry carries the user's answer for exactly this call; None when
        it carries none. The boundary has verified the sealed state (expiry, tool, arguments,
        caller) before the handler runs, and refused the call with -32602 when it did not hold."""
        responses = params.input_responses or {}
        answer = responses.get(CONFIRM_KEY)
        if answer is None or params.request_state != _STATE:
            return None
        verdict = accepted(answer)
        if verdict is None:
            raise ConfirmationFailed(
                "The confirmation answer was malformed; nothing was changed.",
                hint="Ask the user in the chat whether to go ahead, then call again.",
            )
        return verdict


def _can_elicit(ctx: ServerRequestContext[Any, Any]) -> bool:
    try:
        return ctx.session.check_client_capability(types.ClientCapabilities(elicitation=types.ElicitationCapability()))
    except Exception:  # unknown capability shape: do not ask
        return False


def accepted(answer: Any) -> bool | None:
    """True only for an explicit accept with `confirm: true`; False for decline/cancel or
    `confirm: false`; None for anything malformed (which the caller treats as a failure)."""
    if not isinstance(answer, types.ElicitResult):
        try:
            answer = types.ElicitResult.model_validate(answer)
        except Exception:
            return None
    if answer.action in ("decline", "cancel"):
        return False
    if answer.action != "accept":
        return None
    confirm = (answer.content or {}).get("confirm")
    if confirm is True:
        return True
    if confirm is False:
        return False
    return None
