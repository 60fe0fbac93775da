"""The authorization server's refusals, through the balancer: PKCE, RFC 8707 resource binding,
exact redirect URIs, single-use codes, CSRF on the linking form, client metadata documents."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import httpx2
import pytest

from tests.remote.conftest import Stack
from tests.remote.stack import authorize, exchange_code, hidden, pkce, register


def _link_and_allow(http: httpx2.Client, stack: Stack, link: str, token: str, action: str = "allow") -> str:
    page = http.get(link)
    form = {"req": hidden(page.text, "req"), "csrf": hidden(page.text, "csrf"), "dversum_token": token}
    confirm = http.post(stack.base + "/link", data=form)
    done = http.post(
        stack.base + "/link/confirm", data={"req": form["req"], "csrf": hidden(confirm.text, "csrf"), "action": action}
    )
    assert done.status_code == 303, done.text
    return done.headers["location"]


def _code_for(stack: Stack, http: httpx2.Client, client_id: str, challenge: str, redirect: str) -> str:
    start = authorize(http, stack.base, client_id, challenge, redirect)
    assert start.status_code == 302, start.text
    location = _link_and_allow(http, stack, start.headers["location"], stack.token_a)
    code = re.search(r"code=([^&]+)", location)
    assert code
    return code.group(1)


def _exchange(stack: Stack, client_id: str, code: str, verifier: str, redirect: str, **extra: str) -> httpx2.Response:
    with httpx2.Client(timeout=10) as http:
        return exchange_code(http, stack.base, code, verifier, client_id, redirect, **extra)


def test_pkce_resource_and_single_use_codes(stack: Stack) -> None:
    redirect = "http://127.0.0.1:40000/callback"
    with httpx2.Client(timeout=30) as http:
        client_id = register(http, stack.base)
        verifier, challenge = pkce()
        code = _code_for(stack, http, client_id, challenge, redirect)
        wrong = _exchange(stack, client_id, code, pkce()[0], redirect)
        assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
        code = _code_for(stack, http, client_id, challenge, redirect)
        foreign = _exchange(stack, client_id, code, verifier, redirect, resource="https://other.example/mcp")
        assert foreign.status_code == 400 and foreign.json()["error"] == "invalid_target"
        good = _exchange(stack, client_id, code, verifier, redirect)
        assert good.status_code == 200, good.text
        again = _exchange(stack, client_id, code, verifier, redirect)
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
        plain = authorize(http, stack.base, client_id, verifier, redirect, code_challenge_method="plain")
        assert plain.status_code == 302 and "error=invalid_request" in plain.headers["location"]
        elsewhere = authorize(http, stack.base, client_id, challenge, redirect, resource="https://other.example/mcp")
        assert elsewhere.status_code == 302 and "error=invalid_target" in elsewhere.headers["location"]


@pytest.mark.parametrize(
    "redirect",
    [
        "http://127.0.0.1/other",
        "http://127.0.0.1:5000/callback?x=1",
        "https://127.0.0.1/callback",
        "http://evil.example/callback",
    ],
)
def test_redirect_uris_must_match_exactly(stack: Stack, redirect: str) -> None:
    with httpx2.Client(timeout=30) as http:
        client_id = register(http, stack.base)
        response = authorize(http, stack.base, client_id, pkce()[1], redirect)
    assert response.status_code == 400 and "location" not in response.headers  # never redirected to it


def test_the_linking_form_refuses_a_post_without_its_csrf_cookie_and_cancel_denies(stack: Stack) -> None:
    redirect = "http://127.0.0.1:40001/callback"
    with httpx2.Client(timeout=30) as http:
        client_id = register(http, stack.base)
        start = authorize(http, stack.base, client_id, pkce()[1], redirect)
        link = start.headers["location"]
        page = http.get(link)
        form = {"req": hidden(page.text, "req"), "csrf": hidden(page.text, "csrf"), "dversum_token": stack.token_a}
        with httpx2.Client(timeout=30) as stranger:  # a cross-site post: the form's fields, not the cookie
            forged = stranger.post(stack.base + "/link", data=form)
        assert forged.status_code == 400 and "The form expired" in forged.text and "Is this you?" not in forged.text
        assert _link_and_allow(http, stack, link, stack.token_a, action="deny").startswith(
            redirect + "?error=access_denied"
        )


class _Documents(BaseHTTPRequestHandler):
    documents: ClassVar[dict[str, Any]] = {}

    def do_GET(self) -> None:
        body = json.dumps(self.documents.get(self.path, {})).encode()
        self.send_response(200 if self.path in self.documents else 404)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def documents() -> Iterator[tuple[str, dict[str, Any]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Documents)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Documents.documents
    finally:
        server.shutdown()
        server.server_close()


def test_a_client_metadata_document_is_a_client_id(stack: Stack, documents: tuple[str, dict[str, Any]]) -> None:
    host, served = documents
    client_id = host + "/oauth/client.json"
    served["/oauth/client.json"] = {
        "client_id": client_id,
        "client_name": "Metadata Client",
        "redirect_uris": ["http://127.0.0.1/cimd-callback"],
    }
    liar = host + "/oauth/liar.json"
    served["/oauth/liar.json"] = {
        "client_id": "https://someone-else.example/c.json",
        "redirect_uris": [served["/oauth/client.json"]["redirect_uris"][0]],
    }
    verifier, challenge = pkce()
    redirect = "http://127.0.0.1:40002/cimd-callback"
    with httpx2.Client(timeout=30) as http:
        code = _code_for(stack, http, client_id, challenge, redirect)
        assert _exchange(stack, client_id, code, verifier, redirect).status_code == 200
        refused = authorize(http, stack.base, liar, challenge, redirect)
        assert refused.status_code == 400 and "location" not in refused.headers
