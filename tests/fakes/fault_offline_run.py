"""Run a Python script (as __main__) with the network cut: every DNS lookup or connect is refused and reported.

    python tests/fakes/fault_offline_run.py SCRIPT [ARGS...]

For subprocess tests of main.py, which cannot inject a transport: nothing can leave the machine,
and each attempt is printed to stderr as `NETWORK-ATTEMPT<TAB>what<TAB>target` at once, so the
suite can prove a command refused before touching the network. Unix sockets stay usable.
"""

from __future__ import annotations

import os
import runpy
import socket
import sys

MARK = "NETWORK-ATTEMPT"


def _report(what: str, target: object) -> None:
    os.write(2, f"{MARK}\t{what}\t{target!r}\n".encode("utf-8", "replace"))


def _refuse_lookup(host: object, *args: object, **kwargs: object) -> list[object]:
    _report("getaddrinfo", host)
    raise socket.gaierror(socket.EAI_NONAME, "network disabled for this test")


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _refuse_connect(self: socket.socket, address: object) -> None:
    if self.family == socket.AF_UNIX:
        return _real_connect(self, address)
    _report("connect", address)
    raise OSError(101, "network disabled for this test")


def _refuse_connect_ex(self: socket.socket, address: object) -> int:
    if self.family == socket.AF_UNIX:
        return _real_connect_ex(self, address)
    _report("connect", address)
    return 101


def main() -> None:
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    sys.path[0] = os.path.dirname(os.path.abspath(script))  # as if the script itself had been run
    socket.getaddrinfo = _refuse_lookup  # type: ignore[assignment]
    socket.socket.connect = _refuse_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _refuse_connect_ex  # type: ignore[method-assign]
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
