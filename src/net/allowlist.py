"""Refuse any URL whose scheme and host are not on the calling module's allowlist."""

from __future__ import annotations

from urllib.parse import urlsplit


class HostNotAllowedError(Exception):
    """A module tried to reach a host outside its allowlist (ground rule 5)."""


def check_url(url: str, allowed_hosts: frozenset[str], schemes: frozenset[str]) -> str:
    """Return the URL's host if scheme and host are allowed; raise HostNotAllowedError otherwise.

    Called on every request, not once at construction: a redirect, a cursor URL or a reconnect
    target must pass the same gate.
    """
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        raise HostNotAllowedError(f"malformed URL refused: {url[:80]!r}") from None
    if parts.scheme not in schemes:
        raise HostNotAllowedError(f"scheme {parts.scheme!r} not allowed (allowed: {sorted(schemes)})")
    if parts.username or parts.password:
        raise HostNotAllowedError("URLs with credentials are refused")
    return check_host(host, allowed_hosts)


def check_host(host: str, allowed_hosts: frozenset[str]) -> str:
    """Return the host (lower-cased) if it is on the allowlist; raise HostNotAllowedError otherwise."""
    host = host.lower()
    if host not in allowed_hosts:
        raise HostNotAllowedError(f"host {host!r} is not on this module's allowlist {sorted(allowed_hosts)}")
    return host
