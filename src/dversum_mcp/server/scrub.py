"""Secrets never leave the process: one scrubber at the boundary every answer passes.

`Scrubber` knows the secrets (API token, MCP bearer, webhook secret) and removes them from
decoded text, whatever the text's origin (API body, response header, filename, URI): the raw
value, percent-encoded (also twice), with JSON or HTML escapes, hex, and base64 / base64url at
each of the three byte alignments (so a token inside a longer base64 string is found too).
Where a decoding reveals a secret, the string is replaced by its decoded form with the secret
masked: a leak costs the string its encoding, never the secret its cover.

`ScrubMiddleware` applies it to every request's result and error, on every transport (it
runs inside the SDK's request chain); `ScrubbingWriteStream` to every notification a server
loop writes; the log formatter (`dversum_mcp.logs`) to every log line. A result without any
trace of a secret costs one serialization and a few substring tests.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

import pydantic_core
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp.shared.message import SessionMessage
from mcp_types import INTERNAL_ERROR
from pydantic import BaseModel, ValidationError

__all__ = [
    "MASK",
    "MIN_SECRET_LENGTH",
    "ScrubMiddleware",
    "Scrubber",
    "ScrubbingWriteStream",
    "token_problem",
]

MASK = "***"
MIN_SECRET_LENGTH = 6
_MAX_DEPTH = 200
_ROUNDS = 4
_JSON_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|[\"\\/bfnrt])")
_SIMPLE = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_BEARER = re.compile(r"[\x21-\x7e]+")
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_ENTITY = re.compile(r"&(?:#[0-9]+|#[xX][0-9A-Fa-f]+|[A-Za-z][A-Za-z0-9]*);?")


def token_problem(name: str, value: str) -> str | None:
    """Why `value` cannot be a bearer token (for a start-up refusal naming `name`), or None."""
    if not value:
        return None
    if _BEARER.fullmatch(value) is None:
        bad = next(c for c in value if _BEARER.fullmatch(c) is None)
        return (
            f"{name} is not a usable API token: it contains {bad!r} (U+{ord(bad):04X}); a token is one word of "
            "printable ASCII without spaces. Copy the token itself (dVersum → Settings → API), not the example "
            "placeholder, into the environment or .env, then start again."
        )
    if len(value) < MIN_SECRET_LENGTH:
        return f"{name} is too short to be an API token ({len(value)} characters); copy the whole token."
    return None


def _unescape_json(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        body = match.group(1)
        if body[0] in "ux":
            return chr(int(body[1:], 16))
        return _SIMPLE[body]

    return _JSON_ESCAPE.sub(one, text)


def _decodings(text: str) -> str:
    """`text` with one layer of percent, JSON-escape and HTML-entity encoding undone."""
    out = text
    if "%" in out:
        out = unquote(out, errors="replace")
    if "\\" in out:
        out = _unescape_json(out)
    if "&" in out:
        out = html.unescape(out)
    return out


def _base64_forms(secret: bytes) -> list[str]:
    """The part of base64(prefix + secret + suffix) fixed by the secret alone, for each of the
    three alignments, in the standard and the URL-safe alphabet."""
    forms: list[str] = []
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + secret + b"\0\0").decode("ascii")
        start = -(-8 * shift // 6)
        end = 8 * (shift + len(secret)) // 6
        core = encoded[start:end]
        if len(core) >= MIN_SECRET_LENGTH:
            forms += [core, core.replace("+", "-").replace("/", "_")]
    return forms


class Scrubber:
    """Masks known secrets in text, bytes and JSON-like values (decoded, in every encoding)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
        needles: set[str] = set()
        for secret in self.secrets:
            raw = secret.encode("utf-8", "surrogatepass")
            needles.update({secret, raw.hex(), raw.hex().upper(), *_base64_forms(raw)})
        self.needles = sorted(needles, key=len, reverse=True)
        self._wire = sorted({json.dumps(n)[1:-1] for n in self.needles}, key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self.secrets)

    # ---- text ----------------------------------------------------------------------------------
    def _hit(self, text: str) -> bool:
        return any(n in text for n in self.needles)

    def _mask(self, text: str) -> str:
        for needle in self.needles:
            if needle in text:
                text = text.replace(needle, MASK)
        return text

    def text(self, text: str) -> str:
        """`text` without any secret, in any encoding this module knows."""
        if not self.secrets:
            return text
        out = self._mask(text) if self._hit(text) else text
        current = out
        for _ in range(_ROUNDS):
            decoded = _decodings(current)
            if decoded == current:
                break
            current = decoded
            if self._hit(current):
                out = current = self._mask(current)
        return out

    def data(self, data: bytes) -> bytes:
        """Bytes (a file's content) with the secrets masked where they appear raw or encoded."""
        if not self.secrets:
            return data
        text = data.decode("latin-1")
        hit = self._hit(text)
        if "%" in text:
            hit = hit or self._hit(unquote(text, encoding="latin-1"))
        if not hit:
            return data
        masked = self._mask(text)
        if "%" in masked and self._hit(unquote(masked, encoding="latin-1")):
            masked = self._mask(unquote(masked, encoding="latin-1"))
        return masked.encode("latin-1", "replace")

    # ---- JSON-like values ----------------------------------------------------------------------
    def suspect(self, wire: str) -> bool:
        """Whether a serialized message may carry a secret (cheap; false positives allowed)."""
        if not self.secrets:
            return False
        if any(n in wire for n in self._wire) or '"blob"' in wire or "\\\\" in wire:
            return True
        if "%" in wire and _PERCENT.search(wire):
            decoded = wire
            for _ in range(_ROUNDS):
                decoded = unquote(decoded, errors="replace")
                if self._hit(decoded):
                    return True
                if not _PERCENT.search(decoded):
                    break
        return "&" in wire and _ENTITY.search(wire) is not None and self._hit(html.unescape(wire))

    def value(self, value: Any, depth: int = 0) -> Any:
        """A copy of a JSON-like value with every string (keys too) scrubbed; base64 `blob`s are
        decoded, scrubbed and encoded again."""
        if isinstance(value, str):
            return self.text(value)
        if depth > _MAX_DEPTH:
            return "(nested too deeply to show)"
        if isinstance(value, dict):
            out: dict[Any, Any] = {}
            for key, item in value.items():
                if key == "blob" and isinstance(item, str):
                    out[key] = self._blob(item)
                else:
                    out[self.text(key) if isinstance(key, str) else key] = self.value(item, depth + 1)
            return out
        if isinstance(value, list | tuple):
            return [self.value(item, depth + 1) for item in value]
        return value

    def _blob(self, blob: str) -> str:
        try:
            data = base64.b64decode(blob, validate=True)
        except (binascii.Error, ValueError):
            return self.text(blob)
        clean = self.data(data)
        return blob if clean == data else base64.b64encode(clean).decode("ascii")

    def result(self, result: Any) -> Any:
        """A handler's result (a wire-form dict or a pydantic model), scrubbed when it needs to be."""
        if not self.secrets or result is None:
            return result
        if isinstance(result, BaseModel):
            wire = result.model_dump_json(by_alias=True, exclude_unset=True)
            if not self.suspect(wire):
                return result
            dumped = result.model_dump(by_alias=True, exclude_unset=True, mode="json")
            return type(result).model_validate(self.value(dumped), by_name=False)
        try:
            wire = pydantic_core.to_json(result, fallback=str).decode()
        except (ValueError, RecursionError):
            return self.value(result)
        return self.value(result) if self.suspect(wire) else result

    def error(self, exc: MCPError) -> MCPError:
        message = self.text(exc.error.message)
        data = self.value(exc.error.data) if exc.error.data is not None else None
        if message == exc.error.message and data == exc.error.data:
            return exc
        return MCPError(code=exc.error.code, message=message, data=data)


class ScrubMiddleware:
    """Server middleware: every request's result and JSON-RPC error, scrubbed, on every transport."""

    def __init__(self, scrubber: Scrubber) -> None:
        self.scrubber = scrubber

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        try:
            result = await call_next(ctx)
        except MCPError as exc:
            masked = self.scrubber.error(exc)
            if masked is exc:
                raise
            raise masked from None
        except ValidationError:  # the SDK answers these with a fixed text (client input, never shown)
            raise
        except Exception as exc:  # the SDK would send str(exc): only when it is clean
            text = str(exc)
            if self.scrubber.text(text) == text:
                raise
            raise MCPError(code=INTERNAL_ERROR, message=self.scrubber.text(text)) from None
        scrubbed: HandlerResult = self.scrubber.result(result)
        return scrubbed


class ScrubbingWriteStream:
    """A server loop's write stream with every outgoing notification scrubbed (results and errors
    were already scrubbed by `ScrubMiddleware`; scrubbing them again would cost a serialization)."""

    def __init__(self, inner: Any, scrubber: Scrubber) -> None:
        self._inner = inner
        self._scrubber = scrubber

    async def send(self, item: SessionMessage, /) -> None:
        message = item.message
        if self._scrubber and getattr(message, "method", None) is not None and getattr(message, "id", None) is None:
            clean = self._scrubber.result(message)
            if clean is not message:
                item = SessionMessage(clean, metadata=item.metadata)
        await self._inner.send(item)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> ScrubbingWriteStream:
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._inner.__aexit__(*exc)
