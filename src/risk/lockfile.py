"""Crash-safe file I/O for the kill switch's files (temp file, fsync, rename)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from src.journal.fsync import fsync_dir
from src.model.models import Mode

LOCK_NAME = "kill_switch.lock"


class LockWriteError(Exception):
    """The lock (or another kill switch file) could not be written completely."""


@dataclass(frozen=True, slots=True)
class LockInfo:
    """What is on disk: the raw text always, the parsed JSON object when it parses."""

    path: Path
    raw: str
    data: dict[str, Any] | None
    error: str = ""


def lock_path(root: Path) -> Path:
    return root / LOCK_NAME


def atomic_write_text(path: Path, text: str) -> None:
    """Replace `path` with `text` so a reader sees the old file or the whole new one, never a part.

    The text goes to a temp file in the same directory, is fsynced, then renamed over the target;
    the directory is fsynced so the rename itself survives a power cut.
    """
    data = text.encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        _unlink_quietly(tmp)
        raise LockWriteError(f"cannot write {path}: {exc.strerror or exc}") from exc
    except BaseException:
        _unlink_quietly(tmp)
        raise
    fsync_dir(path.parent)


def write_lock(root: Path, payload: dict[str, Any]) -> Path:
    """Write kill_switch.lock atomically as one JSON object; returns its path."""
    # Serialise before touching the disk so a bad payload can never leave anything behind.
    text = json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n"
    path = lock_path(root)
    atomic_write_text(path, text)
    return path


def read_lock(root: Path) -> LockInfo | None:
    """The lock's contents, or None when there is no lock. An unreadable lock still counts as a lock."""
    path = lock_path(root)
    try:
        raw = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None
    except OSError as exc:
        return LockInfo(path, "", None, f"cannot read: {exc.strerror or exc}")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        return LockInfo(path, raw, None, f"not valid JSON (line {exc.lineno})")
    if not isinstance(data, dict):
        return LockInfo(path, raw, None, "not a JSON object")
    return LockInfo(path, raw, data)


def remove_lock(root: Path) -> bool:
    """Delete the lock; True if one was removed."""
    path = lock_path(root)
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    fsync_dir(path.parent)
    return True


def append_line(path: Path, line: str) -> None:
    """Append one line and fsync it (KILL_SWITCH_EVENT.log is evidence; it must reach the disk)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line.rstrip("\n") + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _unlink_quietly(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass



def risk_root(root: Path, mode: Mode) -> Path:
    """Where a mode's kill switch keeps its lock and logs: the simulator's never blocks real trading."""
    return root / "data" / "sim" if mode is Mode.SIM else root
