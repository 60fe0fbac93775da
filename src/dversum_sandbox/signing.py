"""Secrets and signatures: the sandbox's signing secret, signed expiring tokens, HMAC and password hashes.

Download links are `{base}/storage/blobs/{token}` with a token that names the file and its expiry
and is signed with a per-sandbox secret, so the blob endpoint needs no table of issued links.
Webhook signatures and share-link passwords use the same standard-library primitives.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import UTC, datetime

from dversum_sandbox.db import Database

__all__ = [
    "TokenExpired",
    "TokenInvalid",
    "check_password",
    "hash_password",
    "hmac_sha256_hex",
    "make_expiring_token",
    "read_expiring_token",
    "sandbox_secret",
]

_PBKDF2_ITERATIONS = 120_000


class TokenInvalid(ValueError):
    """The token is malformed or its signature does not match (answered as 404)."""


class TokenExpired(ValueError):
    """The token is authentic but past its expiry (answered as 410)."""


def sandbox_secret(db: Database, name: str = "signing") -> bytes:
    """The sandbox's secret called `name`, created on first use. Call inside a transaction."""
    db.execute("CREATE TABLE IF NOT EXISTS sandbox_secrets (name TEXT PRIMARY KEY, secret TEXT NOT NULL)")
    found = db.scalar("SELECT secret FROM sandbox_secrets WHERE name = ?", (name,))
    if found is None:
        found = secrets.token_hex(32)
        db.insert("sandbox_secrets", {"name": name, "secret": found})
    return bytes.fromhex(str(found))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _sign(secret: bytes, message: str) -> str:
    return _b64(hmac.new(secret, message.encode(), hashlib.sha256).digest())


def make_expiring_token(secret: bytes, subject: str, expires: datetime) -> str:
    """`subject.expiry_epoch.signature`, URL-safe; `subject` must not contain a dot."""
    if "." in subject:
        raise ValueError("subject must not contain '.'")
    message = f"{subject}.{int(expires.timestamp())}"
    return f"{message}.{_sign(secret, message)}"


def read_expiring_token(secret: bytes, token: str, now: datetime) -> str:
    """The subject of a valid token; `TokenInvalid` when forged or malformed, `TokenExpired` when stale."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[1].isdigit() or len(parts[1]) > 12:
        raise TokenInvalid(token)
    subject, expiry, signature = parts
    if not hmac.compare_digest(signature, _sign(secret, f"{subject}.{expiry}")):
        raise TokenInvalid(token)
    if datetime.fromtimestamp(int(expiry), UTC) <= now:
        raise TokenExpired(token)
    return subject


def hmac_sha256_hex(secret: str, body: bytes) -> str:
    """Hex HMAC-SHA-256 of `body`: the webhook `X-Dversum-Signature` value after `sha256=`."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def hash_password(password: str) -> str:
    """`pbkdf2_sha256$iterations$salt$hash` (hex), for share-link passwords."""
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, _PBKDF2_ITERATIONS)
    return f"pbkdf2_sha256${_PBKDF2_ITERATIONS}${salt.hex()}${digest.hex()}"


def check_password(stored: str, password: str) -> bool:
    """Constant-time comparison against a `hash_password` value; False for anything malformed."""
    try:
        scheme, iterations, salt, digest = stored.split("$")
        if scheme != "pbkdf2_sha256":
            return False
        candidate = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(candidate.hex(), digest)
