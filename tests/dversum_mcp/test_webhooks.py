"""Webhook signatures (vectors computed independently), the CLI verify, the inbox and the listen app."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import httpx2
import pytest

from dversum_mcp.cli.main import main
from dversum_mcp.transports.webhook_inbox import SECRET_ENV, WebhookInbox, sign, verify_webhook_signature, webhook_app

SECRET = b"whsec_test_5f2c9a"
BODY = b'{"id":"d-1","event":"invoice.paid","created_at":"2026-06-12T10:00:00Z","data":{"id":"inv-1"}}'


def expected(secret: bytes, body: bytes) -> str:
    """The signature as the reference describes it, computed without the code under test."""
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


GOOD = "sha256=" + expected(SECRET, BODY)


# ---- verify_webhook_signature ------------------------------------------------------------------
def test_valid_signature() -> None:
    assert verify_webhook_signature(SECRET, BODY, GOOD)
    assert verify_webhook_signature(SECRET.decode(), BODY, GOOD)  # str secret = its UTF-8 bytes
    assert sign(SECRET, BODY) == GOOD
    assert sign(SECRET.decode(), BODY) == GOOD


def test_known_vector() -> None:
    # RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?"
    digest = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert verify_webhook_signature("Jefe", b"what do ya want for nothing?", f"sha256={digest}")


def test_tampered_body_one_byte() -> None:
    tampered = bytearray(BODY)
    tampered[BODY.index(b"paid")] ^= 0x01
    assert not verify_webhook_signature(SECRET, bytes(tampered), GOOD)
    assert not verify_webhook_signature(SECRET, BODY + b" ", GOOD)
    assert not verify_webhook_signature(SECRET, BODY.replace(b'{"id"', b'{ "id"'), GOOD)  # raw bytes, not JSON


def test_wrong_secret() -> None:
    assert not verify_webhook_signature(b"whsec_other", BODY, GOOD)
    assert not verify_webhook_signature(SECRET + b"x", BODY, GOOD)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "sha256=",
        expected(SECRET, BODY),  # no prefix
        "sha1=" + hmac.new(SECRET, BODY, hashlib.sha1).hexdigest(),
        "sha512=" + expected(SECRET, BODY),
        "sha256=" + "g" * 64,  # non-hex
        "sha256=" + expected(SECRET, BODY)[:-2],  # truncated
        "sha256=" + expected(SECRET, BODY) + "00",  # too long
        "sha256=" + expected(SECRET, BODY)[:32] + " " + expected(SECRET, BODY)[33:],
        "sha256=" + "é" * 64,
        "sha256=\x00" + expected(SECRET, BODY)[1:],
        "sha256==" + expected(SECRET, BODY),
        "sha256:" + expected(SECRET, BODY),
    ],
)
def test_malformed_headers_are_false(header: str) -> None:
    assert verify_webhook_signature(SECRET, BODY, header) is False


@pytest.mark.parametrize(
    "args",
    [
        (SECRET, BODY, None),
        (SECRET, BODY, 42),
        (SECRET, BODY.decode(), GOOD),  # a str body is not the raw bytes
        (None, BODY, GOOD),
        (b"", BODY, "sha256=" + expected(b"", BODY)),  # an empty secret verifies nothing
        ("", BODY, "sha256=" + expected(b"", BODY)),
    ],
)
def test_bad_input_never_raises(args: tuple[Any, Any, Any]) -> None:
    assert verify_webhook_signature(*args) is False


def test_uppercase_hex_and_prefix_are_accepted() -> None:
    digest = expected(SECRET, BODY)
    assert verify_webhook_signature(SECRET, BODY, "sha256=" + digest.upper())
    assert verify_webhook_signature(SECRET, BODY, "SHA256=" + digest)
    assert verify_webhook_signature(SECRET, BODY, "  sha256=" + digest + "\r\n")  # header whitespace


def test_unicode_body_bytes() -> None:
    body = json.dumps({"event": "client.created", "data": {"name": "Müller & Söhne GmbH 📊"}}, ensure_ascii=False)
    raw = body.encode("utf-8")
    header = "sha256=" + expected(SECRET, raw)
    assert verify_webhook_signature(SECRET, raw, header)
    escaped = json.dumps(json.loads(body)).encode()  # same JSON, other bytes (\u escapes)
    assert not verify_webhook_signature(SECRET, escaped, header)
    assert verify_webhook_signature("geheim-ß", raw, "sha256=" + expected("geheim-ß".encode(), raw))


# ---- CLI verify ---------------------------------------------------------------------------------
def test_cli_verify(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    body_file = tmp_path / "body.json"
    body_file.write_bytes(BODY)
    monkeypatch.setenv(SECRET_ENV, SECRET.decode())
    assert main(["webhook", "verify", "--signature", GOOD, "--body-file", str(body_file)]) == 0
    assert capsys.readouterr().out.strip() == "valid"
    bad = "sha256=" + expected(b"other", BODY)
    assert main(["webhook", "verify", "--signature", bad, "--body-file", str(body_file)]) == 1
    assert capsys.readouterr().out.strip() == "invalid"
    assert main(["webhook", "verify", "--signature", "nonsense", "--body-file", str(body_file)]) == 1
    assert capsys.readouterr().out.strip() == "invalid"


def test_cli_verify_needs_env_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    body_file = tmp_path / "body.json"
    body_file.write_bytes(BODY)
    monkeypatch.delenv(SECRET_ENV, raising=False)
    assert main(["webhook", "verify", "--signature", GOOD, "--body-file", str(body_file)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert SECRET_ENV in captured.err
    with pytest.raises(SystemExit):  # there is no flag for the secret
        main(["webhook", "verify", "--secret", "x", "--signature", GOOD, "--body-file", str(body_file)])


def test_cli_verify_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET.decode())
    assert main(["webhook", "verify", "--signature", GOOD, "--body-file", str(tmp_path / "nope")]) == 2


def test_cli_listen_refuses_non_loopback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["webhook", "listen", "--host", "0.0.0.0", "--port", "0"]) == 2
    assert "loopback" in capsys.readouterr().err


# ---- inbox --------------------------------------------------------------------------------------
def test_inbox_dedups_by_idempotency_key() -> None:
    inbox = WebhookInbox()
    seen: list[dict[str, Any]] = []
    inbox.on_event.append(seen.append)
    stored, first = inbox.add({"Idempotency-Key": "d-1", "X-Dversum-Event": "invoice.paid"}, BODY)
    assert stored
    assert first["event"] == "invoice.paid"
    assert first["id"] == first["idempotency_key"] == "d-1"
    assert first["payload"]["data"] == {"id": "inv-1"}
    again, same = inbox.add({"idempotency-key": "d-1"}, BODY)  # header names are case-insensitive
    assert not again
    assert same is first
    assert len(inbox) == 1
    assert seen == [first]
    stored2, _ = inbox.add({"Idempotency-Key": "d-2"}, b"not json")
    assert stored2
    assert inbox.events()[-1]["payload"] == "not json"
    assert inbox.events()[-1]["event"] is None
    # The header is not signed: the same body under another key, or none, is the same delivery (its `id`).
    assert not inbox.add({"Idempotency-Key": "d-1-replayed"}, BODY)[0]
    assert not inbox.add({}, BODY)[0]
    # Without the header and without an `id` in the body nothing can be recognised as a repeat: stored each time.
    other = BODY.replace(b'"id":"d-1",', b"")
    assert inbox.add({}, other)[0]
    assert inbox.add({}, other)[0]
    assert inbox.events()[-1]["event"] == "invoice.paid"  # from the payload
    assert len(inbox) == 4


def test_inbox_is_bounded_and_remembers_keys() -> None:
    inbox = WebhookInbox(capacity=3)
    for i in range(5):
        inbox.add({"Idempotency-Key": f"k{i}"}, b"{}")
    assert [e["id"] for e in inbox.events()] == ["k2", "k3", "k4"]
    stored, _ = inbox.add({"Idempotency-Key": "k0"}, b"{}")  # evicted from the list, still a repeat
    assert not stored
    with pytest.raises(ValueError):
        WebhookInbox(capacity=0)


def test_inbox_callback_errors_do_not_break_add() -> None:
    inbox = WebhookInbox()

    def boom(event: dict[str, Any]) -> None:
        raise RuntimeError("observer failed")

    inbox.on_event.append(boom)
    assert inbox.add({"Idempotency-Key": "x"}, b"{}")[0]
    assert len(inbox) == 1


# ---- listen app, in-process ---------------------------------------------------------------------
def _client(app: Any) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://127.0.0.1:8787")


def _headers(body: bytes, key: str, secret: bytes = SECRET) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Dversum-Event": "invoice.paid",
        "X-Dversum-Signature": "sha256=" + expected(secret, body),
        "Idempotency-Key": key,
    }


@pytest.mark.anyio
async def test_listen_app_rejects_bad_signatures() -> None:
    inbox = WebhookInbox()
    async with _client(webhook_app(inbox, SECRET.decode())) as client:
        wrong = await client.post("/", content=BODY, headers=_headers(BODY, "d-1", secret=b"other"))
        assert wrong.status_code == 401
        assert wrong.json()["error"] == "invalid_signature"
        missing = await client.post(
            "/", content=BODY, headers={"Idempotency-Key": "d-1", "Content-Type": "application/json"}
        )
        assert missing.status_code == 401
        tampered = await client.post("/", content=BODY + b" ", headers=_headers(BODY, "d-1"))
        assert tampered.status_code == 401
        assert len(inbox) == 0  # nothing unverified is stored, and the key is not burnt
        ok = await client.post("/hooks/dversum", content=BODY, headers=_headers(BODY, "d-1"))
        assert ok.status_code == 200
        assert ok.json() == {"received": True, "duplicate": False, "id": "d-1"}
        assert inbox.events()[0]["verified"] is True
        assert inbox.events()[0]["path"] == "/hooks/dversum"
        assert (await client.get("/")).status_code == 405


@pytest.mark.anyio
async def test_listen_app_dedups() -> None:
    inbox = WebhookInbox()
    printed: list[dict[str, Any]] = []
    inbox.on_event.append(printed.append)
    async with _client(webhook_app(inbox, SECRET)) as client:
        first = await client.post("/", content=BODY, headers=_headers(BODY, "d-7"))
        repeat = await client.post("/", content=BODY, headers=_headers(BODY, "d-7"))
        second = BODY.replace(b'"d-1"', b'"d-8"')  # another delivery: the same body again would be a replay
        other = await client.post("/", content=second, headers=_headers(second, "d-8"))
    assert first.json()["duplicate"] is False
    assert repeat.status_code == 200
    assert repeat.json() == {"received": True, "duplicate": True, "id": "d-7"}
    assert other.json()["duplicate"] is False
    assert [e["id"] for e in inbox.events()] == ["d-7", "d-8"]
    assert [e["id"] for e in printed] == ["d-7", "d-8"]


@pytest.mark.anyio
async def test_listen_app_without_secret_and_size_limit() -> None:
    inbox = WebhookInbox()
    async with _client(webhook_app(inbox, None, max_body=1024)) as client:
        unsigned = await client.post(
            "/", content=BODY, headers={"Idempotency-Key": "u-1", "Content-Type": "application/json"}
        )
        assert unsigned.status_code == 200
        assert inbox.events()[0]["verified"] is False
        big = await client.post("/", content=b"x" * 2048, headers={"Content-Type": "application/json"})
        assert big.status_code == 413
    assert len(inbox) == 1


def test_cli_listen_wiring(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`webhook listen` serves the app on loopback with the env secret and prints one JSON line per new event."""
    import anyio
    import uvicorn

    served: list[uvicorn.Config] = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, *a, **k: served.append(self.config))
    monkeypatch.setenv(SECRET_ENV, SECRET.decode())
    assert main(["webhook", "listen"]) == 0
    (config,) = served
    assert (config.host, config.port) == ("127.0.0.1", 8787)

    async def deliver() -> list[int]:
        async with _client(config.app) as client:
            codes = []
            for key, secret in (("l-1", SECRET), ("l-1", SECRET), ("l-2", b"forged")):
                response = await client.post("/", content=BODY, headers=_headers(BODY, key, secret))
                codes.append(response.status_code)
            return codes

    assert anyio.run(deliver) == [200, 200, 401]
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    event = json.loads(lines[0])
    assert (event["id"], event["event"], event["verified"]) == ("l-1", "invoice.paid", True)
    assert event["payload"]["data"] == {"id": "inv-1"}
