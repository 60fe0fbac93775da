"""OAuth client records: exact redirect URI checks, loopback any port (RFC 8252 §7.3)."""

from __future__ import annotations

from urllib.parse import urlsplit

from mcp.shared.auth import InvalidRedirectUriError, OAuthClientInformationFull
from pydantic import AnyUrl

__all__ = ["LOOPBACK_HOSTS", "DversumClient", "redirect_matches", "redirect_uri_problem"]

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


_NEVER_SCHEMES = frozenset(
    {"javascript", "data", "vbscript", "file", "blob", "about", "ftp", "ws", "wss", "filesystem"}
)


def redirect_uri_problem(uri: str) -> str | None:
    """Why a client may not register `uri` as a redirect URI, or None.

    The authorization code travels in it: https, or http to a loopback host (the code never
    leaves the machine, RFC 8252 §7.3), or a native app's private-use scheme (RFC 8252 §7.1). Never
    plain http to another host (the code crosses the network in clear), never a scheme a browser
    runs or reads locally (`javascript:`, `data:`, `file:` …), never a fragment."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if not scheme:
        return f"redirect URI {uri!r} has no scheme"
    if parts.fragment or "#" in uri:
        return "redirect URIs must not have a fragment"
    if scheme in _NEVER_SCHEMES:
        return f"redirect URIs may not use the {scheme}: scheme"
    if scheme == "http" and (parts.hostname or "").lower() not in LOOPBACK_HOSTS:
        return "a redirect URI must use https unless it points to a loopback address (127.0.0.1, [::1], localhost)"
    if scheme in ("http", "https") and (not parts.hostname or parts.username or parts.password):
        return "an http(s) redirect URI needs a host and no user name or password"
    return None


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
