"""The shared key set (`DVERSUM_MCP_SECRET_KEYS`): encryption at rest and derived keys.

Every replica gets the same comma-separated list. The first key encrypts and derives; every key
still decrypts, so a key can be rotated in (`new,old`), and out once nothing sealed under it is
left. Ciphertexts are `v1.` + base64url(key id[4] + nonce[12] + AES-256-GCM ciphertext); the
key id and a caller-given context (e.g. the user id) are bound as associated data, so a value
copied to another user's record does not decrypt.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["MIN_KEY_CHARS", "KeyError_", "KeySet"]

MIN_KEY_CHARS = 32
_PREFIX = "v1."


class KeyError_(ValueError):
    """The key list is unusable, or a value does not decrypt under any key."""


def _derive(secret: bytes, purpose: str) -> bytes:
    return HKDF(algorithm=SHA256(), length=32, salt=b"dversum-mcp", info=purpose.encode()).derive(secret)


class KeySet:
    def __init__(self, keys: Sequence[str]) -> None:
        cleaned = [k.strip() for k in keys if k.strip()]
        if not cleaned:
            raise KeyError_("DVERSUM_MCP_SECRET_KEYS is empty: give at least one random key of 32+ characters")
        if any(len(k) < MIN_KEY_CHARS for k in cleaned):
            raise KeyError_(f"every key in DVERSUM_MCP_SECRET_KEYS needs at least {MIN_KEY_CHARS} characters")
        if len(set(cleaned)) != len(cleaned):
            raise KeyError_("DVERSUM_MCP_SECRET_KEYS lists a key twice")
        self._raw = [k.encode() for k in cleaned]
        self._aead = [(hashlib.sha256(k).digest()[:4], AESGCM(_derive(k, "at-rest/v1"))) for k in self._raw]

    @classmethod
    def from_env(cls, value: str | None) -> KeySet:
        return cls((value or "").split(","))

    def __repr__(self) -> str:
        return f"KeySet({len(self._raw)} keys)"

    def derive(self, purpose: str) -> bytes:
        """A 32-byte key for one purpose, from the first (current) key."""
        return _derive(self._raw[0], purpose)

    def derive_all(self, purpose: str) -> list[bytes]:
        """The purpose key of every key in the set, current first (for verify-with-any)."""
        return [_derive(k, purpose) for k in self._raw]

    def encrypt(self, plaintext: bytes, context: str) -> str:
        kid, aead = self._aead[0]
        nonce = os.urandom(12)
        ct = aead.encrypt(nonce, plaintext, _PREFIX.encode() + kid + context.encode())
        return _PREFIX + base64.urlsafe_b64encode(kid + nonce + ct).decode().rstrip("=")

    def is_current(self, token: str) -> bool:
        """Sealed under the first key (else re-seal it: rotation)."""
        try:
            raw = base64.urlsafe_b64decode(token[len(_PREFIX) :] + "=" * (-len(token) % 4))
        except ValueError:
            return False
        return raw[:4] == self._aead[0][0]

    def decrypt(self, token: str | bytes, context: str) -> bytes:
        if isinstance(token, bytes):
            token = token.decode("ascii", "replace")
        if not token.startswith(_PREFIX):
            raise KeyError_("not a sealed value")
        try:
            raw = base64.urlsafe_b64decode(token[len(_PREFIX) :] + "=" * (-len(token) % 4))
        except ValueError:
            raise KeyError_("not a sealed value") from None
        kid, nonce, ct = raw[:4], raw[4:16], raw[16:]
        for key_id, aead in self._aead:
            if key_id == kid:
                try:
                    return aead.decrypt(nonce, ct, _PREFIX.encode() + kid + context.encode())
                except InvalidTag:
                    break
        raise KeyError_("the value does not decrypt under any configured key")
