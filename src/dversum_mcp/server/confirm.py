"""Confirmations: destructive and irreversible tools ask the user first, when the client can ask.

The question names what will happen ("Send the draft invoice for 1.190,00 € to ATAS
Vertriebs GmbH? …"), filled from the target resource (fetched with one GET) and the table
entry's `confirm` template. Handshake-era clients get an `elicitation/create` request; on
2026-07-28 the call answers `InputRequiredResult` and the client retries with the answer —
its `request_state` is an HMAC over the tool and its arguments, so an answer can only
confirm the call it was asked for. Clients without elicitation, and `--no-confirm`, run the
action as before.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from dversum_mcp.api.client import ApiClient
from dversum_mcp.api.errors import ApiError, DversumError
from dversum_mcp.tools.manifest import ToolSpec
from dversum_mcp.tools.registry import GeneratedTool
from dversum_mcp.tools.schema import validate_arguments

__all__ = ["CONFIRM_KEY", "Confirmer", "Declined", "format_eur"]

log = logging.getLogger("dversum_mcp")
CONFIRM_KEY = "dversum_confirm"
_FIELD = re.compile(r"\{([a-z_.]+)(\|eur)?\}")
_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"confirm": {"type": "boolean", "title": "Go ahead", "default": True}},
    "required": ["confirm"],
}


class Declined(DversumError):
    """The user declined (or dismissed) the confirmation; nothing was changed."""

    code = "declined_by_user"


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


class Confirmer:
    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self._key = secrets.token_bytes(32)

    async def confirm(
        self,
        ctx: ServerRequestContext[Any, Any],
        tool: GeneratedTool,
        arguments: Any,
        params: types.CallToolRequestParams,
    ) -> None:
        """Ask the user before a destructive call when the client can; raise `Declined` on a no."""
        spec = tool.spec
        if not spec.destructive or not _can_elicit(ctx):
            return
        args = validate_arguments(spec, tool.schema, arguments)  # never ask about an invalid call
        path_args = {p.wire_name: str(args[p.name]) for p in spec.params if p.where == "path" and p.name in args}
        if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            verdict = self.answered(spec, params)
            if verdict is None:
                raise NeedsInput(self.input_required(spec, params.arguments, await self.question(spec, path_args)))
        else:
            question = await self.question(spec, path_args)
            try:
                answer = await ctx.session.elicit_form(question, _SCHEMA, related_request_id=ctx.request_id)
            except Exception:  # a client that cannot answer gets the action as before
                log.info("confirmation for %s could not be asked; running it", spec.name, exc_info=True)
                return
            verdict = accepted(answer)
        if not verdict:
            raise Declined(
                f"The user declined {spec.name}; nothing was changed.",
                hint="Do not retry unless the user asks for it again.",
            )

    async def question(self, spec: ToolSpec, path_args: Mapping[str, str]) -> str:
        resource: Mapping[str, Any] = {}
        path = _resource_path(spec)
        if path is not None:
            filled = path
            for name, value in path_args.items():
                filled = filled.replace("{" + name + "}", value)
            if "{" not in filled:
                try:
                    response = await self.client.request("GET", filled)
                    if isinstance(response.data, Mapping):
                        resource = response.data
                except ApiError:
                    resource = {}
        if spec.confirm and resource:

            def fill(match: re.Match[str]) -> str:
                value = _lookup(resource, match.group(1))
                if value is None:
                    return "?"
                return format_eur(value) if match.group(2) else str(value)

            return _FIELD.sub(fill, spec.confirm)
        target = _display(resource) or ", ".join(f"{v}" for v in path_args.values()) or "this"
        return f"{spec.title}: {target}? This cannot be undone."

    # ---- 2026-07-28: InputRequiredResult round trip ------------------------------------------
    def state_for(self, spec: ToolSpec, arguments: Mapping[str, Any] | None) -> str:
        payload = json.dumps([spec.name, arguments or {}], sort_keys=True, default=str).encode()
        return hmac.new(self._key, payload, hashlib.sha256).hexdigest()

    def input_required(
        self, spec: ToolSpec, arguments: Mapping[str, Any] | None, message: str
    ) -> types.InputRequiredResult:
        request = types.ElicitRequest(params=types.ElicitRequestFormParams(message=message, requested_schema=_SCHEMA))
        return types.InputRequiredResult(
            input_requests={CONFIRM_KEY: request}, request_state=self.state_for(spec, arguments)
        )

    def answered(self, spec: ToolSpec, params: types.CallToolRequestParams) -> bool | None:
        """True/False when this retry carries the user's answer for exactly this call; None when not."""
        responses = params.input_responses or {}
        answer = responses.get(CONFIRM_KEY)
        if answer is None or params.request_state is None:
            return None
        if not hmac.compare_digest(params.request_state, self.state_for(spec, params.arguments)):
            return None
        return accepted(answer)


def _can_elicit(ctx: ServerRequestContext[Any, Any]) -> bool:
    try:
        return ctx.session.check_client_capability(types.ClientCapabilities(elicitation=types.ElicitationCapability()))
    except Exception:  # unknown capability shape: do not ask
        return False


def accepted(answer: Any) -> bool:
    if not isinstance(answer, types.ElicitResult):
        try:
            answer = types.ElicitResult.model_validate(answer)
        except Exception:
            return False
    if answer.action != "accept":
        return False
    content = answer.content or {}
    return content.get("confirm", True) is not False
