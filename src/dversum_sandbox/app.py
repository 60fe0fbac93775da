"""The sandbox ASGI app: one route table built from every resource module, auth, rate limit, errors.

`create_app(settings)` returns a `SandboxApp`, an ASGI callable usable in-process
(`httpx2.ASGITransport(app=...)`) or served on loopback by uvicorn. Every request runs its
handler inside one SQLite transaction; webhook events it emitted are recorded in the same
transaction and delivered after commit.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from dversum_sandbox import billing, resources
from dversum_sandbox.db import Database, schema_matches
from dversum_sandbox.errors import SandboxError, bad_request, too_large, unauthorized
from dversum_sandbox.framework import Ctx, Endpoint, Raw, UploadedFile
from dversum_sandbox.ratelimit import RateLimiter
from dversum_sandbox.settings import SandboxSettings

__all__ = ["API_PREFIX", "MODULES", "SCHEMA", "SandboxApp", "create_app", "endpoints", "schema_is_current"]

log = logging.getLogger("dversum_sandbox")

API_PREFIX = "/api/v1"
MODULES = resources.MODULES + billing.MODULES
SCHEMA = tuple(m.SCHEMA for m in MODULES if m.SCHEMA)
"""All CREATE statements, in module order; their fingerprint versions the database."""
_PLACEHOLDER = re.compile(r"\{[^}]+\}")


def endpoints() -> list[Endpoint]:
    """Every endpoint, literal paths before parametrised ones (`/pages/tree` before `/pages/{id}`)."""
    eps = [ep for module in MODULES for ep in module.ENDPOINTS]
    return sorted(eps, key=lambda ep: _PLACEHOLDER.sub("\uffff", ep.path))


class SandboxApp:
    """The sandbox API as an ASGI app, with its database and webhook sink."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        settings.files_dir.mkdir(parents=True, exist_ok=True)
        self.db = Database(settings.db_path, SCHEMA)
        self.sink = resources.webhooks.WebhookSink(settings, self.db)
        self.limiter = RateLimiter(settings.rate_limit, settings.rate_window_s)
        routes = []
        for ep in endpoints():
            route = Route(API_PREFIX + ep.path, self._endpoint(ep), methods=[ep.method], name=f"{ep.method} {ep.path}")
            if route.methods is not None:
                route.methods.discard("HEAD")  # a HEAD must not run a GET handler (download counters)
            routes.append(route)
        self._asgi = Starlette(
            routes=routes,
            exception_handlers={HTTPException: _http_error},  # type: ignore[dict-item]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._asgi(scope, receive, send)

    async def aclose(self) -> None:
        await self.sink.aclose()
        self.db.close()

    def _endpoint(self, ep: Endpoint) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            return await self._handle(ep, request)

        return handle

    async def _handle(self, ep: Endpoint, request: Request) -> Response:
        headers: dict[str, str] = {}
        try:
            org_id, user_id, rate_key = self._authenticate(ep, request)
            verdict = self.limiter.check(rate_key)
            headers.update(verdict.headers())
            if not verdict.allowed:
                raise SandboxError(
                    429, "rate_limited", f"Rate limit of {verdict.limit} requests/minute exceeded; retry later"
                )
            body, files = await self._parse(request)
            ctx = Ctx(
                db=self.db,
                settings=self.settings,
                org_id=org_id,
                user_id=user_id,
                path=dict(request.path_params),
                query=dict(request.query_params),
                body=body,
                now=self.settings.clock(),
                lang="en" if request.headers.get("accept-language", "de").lower().startswith("en") else "de",
                base_url=str(request.base_url).rstrip("/") + API_PREFIX,
                files=files,
                headers={k.lower(): v for k, v in request.headers.items()},
            )
            with self.db.transaction():
                result = ep.handler(ctx)
                if ctx.events:
                    self.sink.record(self.db, ctx.org_id, ctx.events, ctx.now)
        except SandboxError as exc:
            return JSONResponse(exc.body(), status_code=exc.status, headers={**headers, **exc.headers})
        except Exception:
            log.exception("sandbox handler failed: %s %s", ep.method, ep.path)
            return JSONResponse(
                {"error": "internal_error", "message": "The sandbox failed on this request"},
                status_code=500,
                headers=headers,
            )
        if ctx.events:
            self.sink.kick()
        if result is None:
            return Response(status_code=204, headers=headers)
        if isinstance(result, Raw):
            return Response(result.content, result.status, {**headers, **result.headers}, result.media_type)
        return JSONResponse(result, status_code=ep.status, headers=headers)

    def _authenticate(self, ep: Endpoint, request: Request) -> tuple[str, str, str]:
        auth = request.headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if ep.public:
            host = request.client.host if request.client else "local"
            return "", "", f"public:{host}"
        if not token:
            raise unauthorized("Missing API token: send Authorization: Bearer <token>")
        with self.db.transaction():
            found = resources.accounts.lookup_token(self.db, token)
        if found is None:
            raise unauthorized("Invalid API token")
        return found[0], found[1], "token:" + resources.accounts.hash_token(token)

    async def _parse(self, request: Request) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
        if request.method in ("GET", "HEAD"):
            return {}, {}
        declared = request.headers.get("content-length")
        limit = self.settings.max_upload_bytes + 1024 * 1024
        if declared and declared.isdigit() and int(declared) > limit:
            raise too_large(f"Request body larger than {self.settings.max_upload_bytes // (1024 * 1024)} MB")
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("multipart/form-data"):
            try:
                form = await request.form(max_files=10, max_fields=100, max_part_size=limit)
            except Exception as exc:
                raise bad_request(f"Malformed multipart body: {exc}") from None
            fields: dict[str, Any] = {}
            files: dict[str, UploadedFile] = {}
            for key, value in form.multi_items():
                if isinstance(value, str):
                    fields[key] = value
                else:
                    data = await value.read()
                    files[key] = UploadedFile(
                        value.filename or "upload", value.content_type or "application/octet-stream", data
                    )
            return fields, files
        raw = await request.body()
        if len(raw) > limit:
            raise too_large("Request body too large")
        if not raw.strip():
            return {}, {}
        try:
            parsed = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise bad_request("Request body is not valid JSON") from None
        except RecursionError:
            raise bad_request("Request body is nested too deep") from None
        if not isinstance(parsed, dict):
            raise bad_request("Request body must be a JSON object")
        try:
            json.dumps(parsed, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise bad_request("Request body contains invalid Unicode (a lone surrogate escape)") from None
        except RecursionError:
            raise bad_request("Request body is nested too deep") from None
        return parsed, {}


async def _http_error(request: Request, exc: HTTPException) -> Response:
    token = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    message = {404: f"No endpoint {request.url.path}", 405: f"{request.method} not allowed on {request.url.path}"}
    return JSONResponse(
        {"error": token, "message": message.get(exc.status_code, str(exc.detail))}, status_code=exc.status_code
    )


def schema_is_current(settings: SandboxSettings) -> bool:
    """Whether the sandbox database in `settings` was made by this version's schema (or does not exist yet)."""
    return schema_matches(settings.db_path, SCHEMA)


def create_app(settings: SandboxSettings | None = None) -> SandboxApp:
    return SandboxApp(settings or SandboxSettings.from_env())
