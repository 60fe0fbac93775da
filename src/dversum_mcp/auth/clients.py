"""OAuth client records: exact redirect URI checks, loopback any port (RFC 8252 §7.3)."""

from __future__ import annotations

from urllib.parse import urlsplit

from mcp.shared.auth import InvalidRedirectUriError, OAuthClientInformationFull
from pydantic import AnyUrl

__all__ = ["LOOPBACK_HOSTS", "DversumClient", "redirect_matches"]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "[::1]", "::1", "localhost"})


def redirect_matches(registered: str, given: str) -> bool:
    """Exact string match; for http loopback redirects the port may differ (native apps pick one)."""
    if registered == given:
        return True
    a, b = urlsplit(registered), urlsplit(given)
    if a.scheme != "http" or b.scheme != "http" or a.fragment or b.fragment:
        return False
    host_a, host_b = (a.hostname or "").lower(), (b.hostname or "").lower()
    if host_a not in LOOPBACK_HOSTS or host_a != host_b or a.username or b.username or a.password or b.password:
        return False
    return (a.path or "/") == (b.path or "/") and a.query == b.query


class DversumClient(OAuthClientInformationFull):
    """A registered (DCR) or metadata-document (CIMD) client with this server's redirect rules."""

    def validate_redirect_uri(self, redirect_uri: AnyUrl | None) -> AnyUrl:
        registered = [str(u) for u in self.redirect_uris or []]
        if redirect_uri is not None:
            given = str(redirect_uri)
            if any(redirect_matches(r, given) for r in registered):
                return redirect_uri
            raise InvalidRedirectUriError(f"Redirect URI '{given}' not registered for client")
        if len(registered) == 1:
            return AnyUrl(registered[0])
        raise InvalidRedirectUriError("redirect_uri must be specified unless the client has exactly one registered URI")
