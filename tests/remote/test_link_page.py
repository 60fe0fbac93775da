"""The account-linking page in a real browser (system Chromium via Playwright, JavaScript off):
paste the token, see whose account it is, allow, land on the client's redirect with a code.
Keeps the screenshot of the confirm step in docs/oauth-link.png."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlencode

import httpx2
import pytest
from playwright.sync_api import sync_playwright

from tests.remote.conftest import Stack
from tests.remote.stack import exchange_code, pkce, register

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "oauth-link.png"


def test_linking_in_chromium_without_javascript(stack: Stack) -> None:
    if not CHROMIUM.exists():
        pytest.fail("chromium is not installed (scripts/system-packages.txt)")
    with httpx2.Client(timeout=30) as http:
        client_id = register(http, stack.base, client_name="Claude")
    verifier, challenge = pkce()
    redirect = "http://127.0.0.1:1/callback"  # loopback, any port; never reached: the browser is stopped there
    query = {
        "client_id": client_id,
        "response_type": "code",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "redirect_uri": redirect,
        "state": "browser-state",
        "resource": stack.base + "/mcp",
    }
    landed: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            context = browser.new_context(java_script_enabled=False, viewport={"width": 960, "height": 860})
            page = context.new_page()
            page.set_default_timeout(15_000)

            def arrive(route: object) -> None:
                landed.append(route.request.url)  # type: ignore[attr-defined]
                route.fulfill(status=200, body="back in the client")  # type: ignore[attr-defined]

            page.route(re.compile(r"^http://127\.0\.0\.1:1/.*"), arrive)
            page.goto(stack.base + "/authorize?" + urlencode(query))
            assert page.title() == "Connect your account · dVersum"
            assert "Claude" in page.inner_text(".client")
            page.fill("input[name=dversum_token]", "dvk_sandbox_not-a-real-token")
            page.click("button[type=submit]")
            assert "did not accept this token" in page.inner_text(".error")
            page.fill("input[name=dversum_token]", stack.token_a)
            page.click("button[type=submit]")
            account = page.inner_text(".account")
            assert "Nordlicht Digital GmbH" in account, account
            assert stack.token_a not in page.content()
            SCREENSHOT.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
            page.click("button[value=allow]")
            page.wait_for_url(re.compile(r"^http://127\.0\.0\.1:1/"))
        finally:
            browser.close()
    assert len(landed) == 1 and "state=browser-state" in landed[0]
    code = re.search(r"code=([^&]+)", landed[0])
    assert code
    with httpx2.Client(timeout=10) as http:
        token = exchange_code(http, stack.base, code.group(1), verifier, client_id, redirect)
    assert token.status_code == 200 and token.json()["token_type"].lower() == "bearer"
    assert SCREENSHOT.stat().st_size > 10_000
