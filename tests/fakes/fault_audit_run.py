"""Run a Python script (as __main__) under an audit hook that reports every file it opens for writing.

    python tests/fakes/fault_audit_run.py SCRIPT [ARGS...]

Each write-intent operation (open for write/append/create, mkdir, rename/replace, remove, rmdir,
link, symlink, truncate, chmod, sqlite3.connect) is printed to stderr as one line
`AUDIT-WRITE<TAB>event<TAB>absolute path` when the process exits, so the suite can check every
target lies inside the project. Nothing else about the run changes.
"""

from __future__ import annotations

import atexit
import os
import runpy
import sys

MARK = "AUDIT-WRITE"
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_PATH_EVENTS = {
    "os.mkdir": (0,),
    "os.rename": (0, 1),
    "os.replace": (0, 1),
    "os.remove": (0,),
    "os.rmdir": (0,),
    "os.link": (0, 1),
    "os.symlink": (0, 1),
    "os.truncate": (0,),
    "os.chmod": (0,),
    "shutil.copyfile": (0, 1),
    "shutil.rmtree": (0,),
    "sqlite3.connect": (0,),
}
_seen: list[tuple[str, str]] = []


def _record(event: str, target: object) -> None:
    if isinstance(target, bytes):
        target = os.fsdecode(target)
    if isinstance(target, os.PathLike):
        target = os.fspath(target)
    if isinstance(target, str) and target and target != ":memory:":
        _seen.append((event, os.path.abspath(target)))


def _hook(event: str, args: tuple[object, ...]) -> None:
    if event == "open":
        path, mode, flags = (list(args) + [None, None, None])[:3]
        writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & _WRITE_FLAGS
        )
        if writes:
            _record(event, path)
    elif event in _PATH_EVENTS:
        for i in _PATH_EVENTS[event]:
            if i < len(args):
                _record(event, args[i])


def _report() -> None:
    lines = "".join(f"{MARK}\t{event}\t{path}\n" for event, path in _seen)
    os.write(2, lines.encode("utf-8", "replace"))


def main() -> None:
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    sys.path[0] = os.path.dirname(os.path.abspath(script))  # as if the script itself had been run
    atexit.register(_report)
    sys.addaudithook(_hook)
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
