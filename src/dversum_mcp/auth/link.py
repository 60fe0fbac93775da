"""The authorization page: the user links their dVersum account by pasting an API token.

dVersum has personal API tokens and no OAuth of its own, so `/authorize` (validated by the SDK)
ends here. Plain HTML forms, no JavaScript, no external resources:

1. `GET /link?req=…` names the client asking and takes the token (`dversum_token`).
2. `POST /link` checks it with `GET /me` and shows whose account and organization it is.
   The token waits for the answer encrypted in Redis, never in the page.
3. `POST /link/confirm` (Allow / Cancel) stores it encrypted under the user and sends the
   browser back to the client with the authorization code (or `access_denied`).

Every form carries a CSRF token: an HMAC over the request id and a random cookie value
(double submit, `SameSite=Strict`, `HttpOnly`). Pages are not cached, cannot be framed, and
send no referrer.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from mcp.server.auth.provider import AuthorizeError
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from dversum_mcp.auth.keys import KeyError_
from dversum_mcp.auth.provider import PendingAuthorization, RedisOAuthProvider
from dversum_mcp.auth.users import LinkedUser, UserStore

__all__ = ["CheckToken", "TokenRejected", "link_routes"]

log = logging.getLogger("dversum_mcp.auth")
COOKIE = "dv_link_csrf"
MAX_FAILED_PER_REQUEST = 5
MAX_FAILED_PER_ADDRESS = 30
"""Refused tokens per authorization request, and per client address, within the code lifetime."""
P = "dv:"


class TokenRejected(Exception):
    """The API did not accept the token (the message says why, for the user)."""


CheckToken = Callable[[str], Awaitable[dict[str, Any]]]
"""`GET /me` with a token: the user and organization, or `TokenRejected`."""

_CSS = """
:root{--ink:#18212f;--muted:#5b6677;--line:#e3e7ee;--bg:#f4f6fa;--brand:#3b5bdb;--brand-dark:#2f4ac0;
--ok:#0f7b4f;--bad:#c0392b;font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--ink);font-size:15px;line-height:1.5}
header{display:flex;align-items:center;gap:10px;padding:18px 28px;background:#fff;border-bottom:1px solid var(--line)}
.logo{width:30px;height:30px;border-radius:8px;background:linear-gradient(135deg,#3b5bdb,#7048e8);color:#fff;
display:grid;place-items:center;font-weight:700}
.brand{font-weight:650;letter-spacing:.2px}.brand small{color:var(--muted);font-weight:400;margin-left:6px}
main{max-width:480px;margin:48px auto;padding:0 16px}
.card{background:#fff;border:1px solid var(--line);border-radius:14px;padding:32px;
box-shadow:0 8px 24px rgba(24,33,47,.06)}
h1{font-size:22px;margin:0 0 6px}p{margin:0 0 14px;color:var(--muted)}
.client{display:flex;align-items:center;gap:10px;padding:12px 14px;border:1px solid var(--line);border-radius:10px;
margin:18px 0;background:#fafbfd}.client b{color:var(--ink)}.client span{color:var(--muted);font-size:13px}
label{display:block;font-weight:600;margin:18px 0 6px}
input[type=password]{width:100%;padding:11px 12px;border:1px solid #cfd6e1;border-radius:9px;font:inherit;
font-family:ui-monospace,SFMono-Regular,Menlo,monospace}
input[type=password]:focus{outline:3px solid rgba(59,91,219,.2);border-color:var(--brand)}
.hint{font-size:13px;color:var(--muted);margin-top:6px}
.actions{display:flex;gap:10px;margin-top:22px}
button{flex:1;padding:11px 16px;border-radius:9px;border:1px solid transparent;font:inherit;font-weight:600;
cursor:pointer}
.primary{background:var(--brand);color:#fff}.primary:hover{background:var(--brand-dark)}
.secondary{background:#fff;color:var(--ink);border-color:#cfd6e1}
.error{background:#fdecea;color:var(--bad);border-radius:9px;padding:10px 12px;margin:14px 0;font-size:14px}
.account{display:flex;gap:14px;align-items:center;margin:20px 0;padding:16px;border:1px solid var(--line);
border-radius:12px}
.avatar{width:46px;height:46px;border-radius:50%;background:#e7ecfb;color:var(--brand);display:grid;place-items:center;
font-weight:700;font-size:17px}.account b{display:block}.account span{color:var(--muted);font-size:14px}
.account .org{display:inline-block;margin-top:4px;padding:2px 8px;border-radius:99px;background:#e6f4ee;color:var(--ok);
font-size:12px;font-weight:600}
ul.perms{padding-left:18px;color:var(--muted);font-size:14px;margin:8px 0 0}
footer{text-align:center;color:var(--muted);font-size:12px;margin:22px 0}
"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    document = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{html.escape(title)} · dVersum</title><style>{_CSS}</style></head>
<body><header><div class="logo">d</div><div class="brand">dVersum<small>MCP connector</small></div></header>
<main><div class="card">{body}</div>
<footer>Your token is stored encrypted and used only for the requests you make through this connector.</footer>
</main></body></html>"""
    response = HTMLResponse(document, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"
    )
    return response


def _initials(name: str) -> str:
    parts = [p for p in name.split() if p]
    return "".join(p[0] for p in parts[:2]).upper() or "?"


class _LinkPages:
    def __init__(self, provider: RedisOAuthProvider, users: UserStore, check: CheckToken) -> None:
        self.provider = provider
        self.users = users
        self.check = check
        self.keys = provider.settings.keys
        self._csrf_keys = self.keys.derive_all("link-csrf/v1")
        self.ttl = provider.settings.code_ttl_s

    def _csrf(self, nonce: str, request_id: str, key: bytes | None = None) -> str:
        key = key or self._csrf_keys[0]
        return hmac.new(key, f"{nonce}|{request_id}".encode(), hashlib.sha256).hexdigest()

    def _csrf_ok(self, request: Request, form: Any, request_id: str) -> bool:
        nonce = request.cookies.get(COOKIE, "")
        given = str(form.get("csrf") or "")
        if len(nonce) < 16 or not given:
            return False
        return any(hmac.compare_digest(given, self._csrf(nonce, request_id, k)) for k in self._csrf_keys)

    def _with_cookie(self, response: Response, nonce: str) -> Response:
        response.set_cookie(
            COOKIE,
            nonce,
            max_age=self.ttl,
            path="/link",
            httponly=True,
            samesite="strict",
            secure=self.provider.settings.secure,
        )
        return response

    def _client_box(self, pending: PendingAuthorization) -> str:
        host = urlsplit(pending.redirect_uri).netloc or pending.redirect_uri
        return (
            f'<div class="client"><div class="logo">{html.escape(_initials(pending.client_name))}</div>'
            f"<div><b>{html.escape(pending.client_name)}</b><br>"
            f"<span>will return to {html.escape(host)}</span></div></div>"
        )

    def _form(
        self, pending: PendingAuthorization, nonce: str, error: str | None = None, status: int | None = None
    ) -> Response:
        csrf = self._csrf(nonce, pending.request_id)
        error_html = f'<div class="error" role="alert">{html.escape(error)}</div>' if error else ""
        body = f"""<h1>Connect your dVersum account</h1>
<p>An assistant wants to work in your dVersum workspace on your behalf.</p>
{self._client_box(pending)}{error_html}
<form method="post" action="/link">
<input type="hidden" name="req" value="{html.escape(pending.request_id)}">
<input type="hidden" name="csrf" value="{csrf}">
<label for="dversum_token">Your dVersum API token</label>
<input type="password" id="dversum_token" name="dversum_token" autocomplete="off" spellcheck="false" required
 placeholder="dvk_live_…">
<div class="hint">Create one in dVersum under Settings → API. You will see whose account it is before
anything is shared.</div>
<div class="actions"><button class="primary" type="submit">Continue</button></div>
</form>"""
        return self._with_cookie(_page("Connect your account", body, status or (400 if error else 200)), nonce)

    @staticmethod
    def _failed_keys(request: Request, request_id: str) -> list[str]:
        """Counters of refused tokens: per authorization request and per client address (the page
        is a way to make this server ask dVersum about any token; it must not be a free one)."""
        address = request.client.host if request.client else ""
        digest = hashlib.sha256(address.encode()).hexdigest()[:32]
        return [P + "linkfail:req:" + request_id, P + "linkfail:addr:" + digest]

    def _gone(self) -> Response:
        return _page(
            "Link expired",
            "<h1>This link has expired</h1><p>Start the connection again from your assistant.</p>",
            400,
        )

    async def show(self, request: Request) -> Response:
        pending = await self.provider.pending(request.query_params.get("req", ""))
        if pending is None:
            return self._gone()
        return self._form(pending, secrets.token_urlsafe(24))

    async def check_token(self, request: Request) -> Response:
        form = await request.form()
        request_id = str(form.get("req") or "")
        pending = await self.provider.pending(request_id)
        if pending is None:
            return self._gone()
        nonce = request.cookies.get(COOKIE, "")
        if not self._csrf_ok(request, form, request_id):
            return self._form(pending, secrets.token_urlsafe(24), "The form expired. Please paste your token again.")
        token = str(form.get("dversum_token") or "").strip()
        if not token:
            return self._form(pending, nonce, "Paste your dVersum API token.")
        failed = self._failed_keys(request, request_id)
        counts = await self.provider.redis.mget(failed)
        if int(counts[0] or 0) >= MAX_FAILED_PER_REQUEST or int(counts[1] or 0) >= MAX_FAILED_PER_ADDRESS:
            message = (
                "Too many tokens were tried. Wait a few minutes, then start the connection again from your assistant."
            )
            return self._form(pending, nonce, message, status=429)
        try:
            me = await self.check(token)
            user = LinkedUser.from_me(me)
        except TokenRejected as exc:
            async with self.provider.redis.pipeline(transaction=False) as pipe:
                for key in failed:
                    pipe.incr(key)
                    pipe.expire(key, self.ttl, nx=True)
                await pipe.execute()
            return self._form(pending, nonce, str(exc))
        sealed = self.keys.encrypt(json.dumps({"token": token, "me": me}).encode(), _parked_context(request_id, nonce))
        await self.provider.redis.set(P + "linkpending:" + request_id, sealed, ex=self.ttl)
        csrf = self._csrf(nonce, request_id)
        hidden = (
            f'<input type="hidden" name="req" value="{html.escape(request_id)}">'
            f'<input type="hidden" name="csrf" value="{csrf}">'
        )
        body = f"""<h1>Is this you?</h1>
<p>dVersum accepted the token. It belongs to:</p>
<div class="account"><div class="avatar">{html.escape(_initials(user.name))}</div>
<div><b>{html.escape(user.name)}</b><span>{html.escape(user.email)}</span><br>
<span class="org">{html.escape(user.org_name)}</span></div></div>
{self._client_box(pending)}
<p>If you allow it, <b>{html.escape(pending.client_name)}</b> can:</p>
<ul class="perms"><li>read and change data in {html.escape(user.org_name or "this organization")}
as {html.escape(user.name)}</li>
<li>ask you before anything irreversible (sending invoices, deleting)</li></ul>
<form method="post" action="/link/confirm">{hidden}
<div class="actions"><button class="secondary" type="submit" name="action" value="deny">Cancel</button>
<button class="primary" type="submit" name="action" value="allow">Allow access</button></div></form>"""
        return _page("Confirm your account", body)

    async def confirm(self, request: Request) -> Response:
        form = await request.form()
        request_id = str(form.get("req") or "")
        pending = await self.provider.pending(request_id)
        if pending is None or not self._csrf_ok(request, form, request_id):
            return self._gone()
        subject: str | None = None
        if form.get("action") == "allow":
            # only the browser that pasted the token (its CSRF cookie is bound into the sealed value) can
            # allow: whoever else knows the request id (the client's author) gets their own valid CSRF
            # token from `GET /link`, but not this one
            key = P + "linkpending:" + request_id
            sealed = await self.provider.redis.get(key)
            if sealed is None:
                return self._gone()
            try:
                parked = json.loads(
                    self.keys.decrypt(sealed, _parked_context(request_id, request.cookies.get(COOKIE, "")))
                )
            except KeyError_:
                log.info("link confirmation for request from another browser refused (client %s)", pending.client_id)
                return self._gone()
            if not await self.provider.redis.delete(key):  # a second confirmation racing this one
                return self._gone()
            user = LinkedUser.from_me(parked["me"])
            await self.users.link(user, parked["token"])
            subject = user.id
            log.info("user %s (org %s) linked for client %s", user.id, user.org_id, pending.client_id)
        else:
            await self.provider.redis.delete(P + "linkpending:" + request_id)  # Cancel: the pasted token goes
        try:
            target = await self.provider.finish(pending, subject)
        except AuthorizeError:
            return self._gone()
        response = RedirectResponse(target, status_code=303)
        response.delete_cookie(COOKIE, path="/link")
        return response


def _parked_context(request_id: str, nonce: str) -> str:
    """Associated data of a pasted token waiting for *Allow*: the request and the pasting browser."""
    return "link:" + request_id + "|" + hashlib.sha256(nonce.encode()).hexdigest()


def link_routes(provider: RedisOAuthProvider, users: UserStore, check: CheckToken) -> list[Route]:
    pages = _LinkPages(provider, users, check)
    return [
        Route("/link", endpoint=pages.show, methods=["GET"]),
        Route("/link", endpoint=pages.check_token, methods=["POST"]),
        Route("/link/confirm", endpoint=pages.confirm, methods=["POST"]),
    ]
