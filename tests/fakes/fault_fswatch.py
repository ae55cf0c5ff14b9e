"""Where did a subprocess write? Its write-intent syscalls (strace -ff) and audit events, as absolute paths.

A literal before/after snapshot of $HOME or /tmp is meaningless on a machine where other processes
write there all the time, so the suite records what the process under test itself did:
- `strace_command(prefix)` wraps a command so every successful open-for-write, creat, mkdir,
  rename, unlink, rmdir, link, symlink and truncate of the whole process tree is logged (one file
  per process, `-y` so each opened file descriptor is printed with its resolved path);
- `strace_writes(prefix, cwd)` parses those logs into (syscall, absolute path) pairs;
- `audit_writes(stderr)` parses the AUDIT-WRITE lines of tests/fakes/fault_audit_run.py;
- `snapshot(paths)` / `changed(before, after)` compare (size, mtime) of chosen files and trees.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

SYSCALLS = (
    "open", "openat", "creat", "mkdir", "mkdirat", "rename", "renameat", "renameat2", "unlink", "unlinkat",
    "rmdir", "link", "linkat", "symlink", "symlinkat", "truncate",
)
_OPENS = {"open", "openat", "creat"}
_WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND")
_RESULT = re.compile(r"\)\s+=\s+(-?\d+)(?:<([^>]*)>)?")
_CWD = re.compile(r"AT_FDCWD<([^>]*)>")
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
AUDIT_MARK = "AUDIT-WRITE"
# Character devices a process may open for writing without writing anywhere.
HARMLESS = frozenset({"/dev/null", "/dev/tty", "/dev/full", "/dev/zero"})


@functools.cache
def strace_usable() -> bool:
    """strace is installed and allowed to trace here (ptrace can be forbidden in containers)."""
    exe = shutil.which("strace")
    if exe is None:
        return False
    try:
        done = subprocess.run([exe, "-f", "-qq", "-o", os.devnull, "true"], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def strace_command(prefix: Path) -> list[str]:
    """The argv prefix that traces a command's file writes into files prefix.<pid>."""
    exe = shutil.which("strace") or "strace"
    return [exe, "-f", "-ff", "-qq", "-y", "-e", "trace=" + ",".join(SYSCALLS), "-o", str(prefix)]


def _absolute(path: str, cwd: str) -> str:
    return os.path.normpath(path if os.path.isabs(path) else os.path.join(cwd, path))


def parse_strace_line(line: str, cwd: str) -> list[tuple[str, str]]:
    """The (syscall, absolute path) pairs one successful write-intent call touched; [] otherwise."""
    name = line.split("(", 1)[0].strip()
    if name not in SYSCALLS:
        return []
    result = _RESULT.search(line)
    if result is None or int(result.group(1)) < 0:
        return []
    here = _CWD.search(line)
    base = here.group(1) if here else cwd
    if name in _OPENS:
        if name != "creat" and not any(flag in line for flag in _WRITE_FLAGS):
            return []
        if result.group(2):
            return [(name, os.path.normpath(result.group(2)))]
    return [(name, _absolute(p.encode().decode("unicode_escape"), base)) for p in _QUOTED.findall(line)]


def strace_writes(prefix: Path, cwd: Path) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for log in sorted(prefix.parent.glob(prefix.name + ".*")):
        for line in log.read_text(errors="replace").splitlines():
            found += parse_strace_line(line, str(cwd))
    return found


def audit_writes(stderr: str) -> list[tuple[str, str]]:
    found = []
    for line in stderr.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[0] == AUDIT_MARK:
            found.append((parts[1], os.path.normpath(parts[2])))
    return found


def outside(writes: Iterable[tuple[str, str]], root: Path) -> list[tuple[str, str]]:
    """Writes whose target is not inside `root` (nor a harmless device)."""
    inside = str(root.resolve())
    return [
        (what, path)
        for what, path in writes
        if path not in HARMLESS and path != inside and not path.startswith(inside + os.sep)
    ]


def snapshot(paths: Iterable[Path]) -> dict[str, tuple[int, int]]:
    """(size, mtime_ns) of every file under each path (a file or a tree); missing paths are simply absent."""
    seen: dict[str, tuple[int, int]] = {}
    for top in paths:
        candidates = [top] if not top.is_dir() else [top, *top.rglob("*")]
        for path in candidates:
            try:
                st = path.lstat()
            except OSError:
                continue
            seen[str(path)] = (st.st_size, st.st_mtime_ns) if not path.is_dir() else (0, 0)
    return seen


def changed(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> list[str]:
    return sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))


__all__ = [
    "AUDIT_MARK",
    "HARMLESS",
    "audit_writes",
    "changed",
    "outside",
    "parse_strace_line",
    "snapshot",
    "strace_command",
    "strace_usable",
    "strace_writes",
]
