"""Hold code that opens its own connections (a third-party library) to a host allowlist on every lookup.

Our own clients call check_url before each request. A library such as Apprise sends through
`requests`/`smtplib` itself, with no transport we can inject. Every one of those connections
starts with a host-name lookup (`socket.getaddrinfo`, which CPython reports as the audit event
"socket.getaddrinfo" BEFORE resolving), so an audit hook sees each host the library is about to
reach: redirects, retries and SMTP included. Inside `only_hosts(...)` a lookup of any other host
raises HostNotAllowedError, which aborts the lookup, so no connection is opened.

The allowlist lives in a ContextVar: it applies only to the code running inside the block and to
threads that copy its context (Apprise's worker threads do), never to the rest of the process.
Outside any block the hook returns at once. Audit hooks cannot be removed; it is installed once.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from src.net.allowlist import HostNotAllowedError, check_host

_allowed: ContextVar[frozenset[str] | None] = ContextVar("connection_guard_allowed", default=None)
_install_lock = threading.Lock()
_installed = False

LOOKUP_EVENT = "socket.getaddrinfo"


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event != LOOKUP_EVENT:
        return
    allowed = _allowed.get()
    if allowed is None:
        return
    host = args[0] if args else None
    if isinstance(host, bytes | bytearray):
        host = bytes(host).decode("ascii", "replace")
    if not isinstance(host, str) or not host:
        raise HostNotAllowedError("a connection without a host name was refused")
    check_host(host, allowed)


def install() -> None:
    """Install the audit hook (idempotent)."""
    global _installed
    with _install_lock:
        if not _installed:
            sys.addaudithook(_audit)
            _installed = True


@contextmanager
def only_hosts(allowed_hosts: frozenset[str]) -> Iterator[None]:
    """Within the block (and threads started with a copy of its context) only these hosts resolve."""
    install()
    token = _allowed.set(frozenset(h.lower() for h in allowed_hosts))
    try:
        yield
    finally:
        _allowed.reset(token)


__all__ = ["HostNotAllowedError", "install", "only_hosts"]
