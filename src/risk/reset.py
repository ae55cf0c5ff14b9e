"""The `--reset-killswitch` command: a typed, recorded, terminal-only removal of kill_switch.lock."""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from src.db import Database, db_path_for
from src.model.exit_codes import EXIT_ERROR, EXIT_HARD_STOP, EXIT_OK, EXIT_USAGE
from src.model.models import Clock, Mode, utc_from_ts
from src.risk.kill_switch import EVENT_LOG_NAME
from src.risk.lockfile import LockInfo, append_line, lock_path, read_lock, remove_lock

RESET_WORD = "RESET"


def reset_killswitch(
    root: Path,
    db: Database,
    *,
    input_fn: Callable[[str], str] = input,
    isatty: Callable[[], bool] | None = None,
    out: Callable[[str], None] = print,
    clock: Clock = time.time,
) -> int:
    """Remove kill_switch.lock after a human types RESET on a terminal. Returns a process exit code.

    EXIT_OK: no lock, or the lock was removed and the reset recorded. EXIT_USAGE: no terminal.
    EXIT_HARD_STOP: not confirmed, the lock stays. EXIT_ERROR: the lock could not be removed, or
    it was removed but the reset could not be recorded.
    """
    interactive = isatty if isatty is not None else sys.stdin.isatty
    info = read_lock(root)
    if info is None:
        out(f"No kill switch lock at {lock_path(root)}: nothing to reset.")
        return EXIT_OK
    out(f"The kill switch is locked: {info.path}")
    out(_describe(info))
    if not interactive():
        out(
            "Refusing to reset without an interactive terminal: a reset must be a person's decision. "
            "Run `python main.py --reset-killswitch` yourself, in a terminal."
        )
        return EXIT_USAGE
    out(
        "Removing the lock lets the bot trade again. The total-loss limit will count losses from now; "
        "the bankroll floor always applies, and if the figures still breach a limit the bot stops again."
    )
    try:
        answer = input_fn(f"Type {RESET_WORD} to remove the lock (anything else keeps it): ")
    except (EOFError, KeyboardInterrupt):
        answer = ""
    if answer.strip() != RESET_WORD:
        out("Not confirmed: the lock stays and the bot will not start.")
        return EXIT_HARD_STOP

    now = clock()
    try:
        remove_lock(root)
    except OSError as exc:
        out(f"Could not remove {info.path}: {exc.strerror or exc}. The lock stays.")
        return EXIT_ERROR
    detail = {"by": "--reset-killswitch", "lock": info.data if info.data is not None else {"raw": info.raw[:2000]}}
    failures = _record_reset(root, db, info, now, detail)
    try:
        append_line(
            root / EVENT_LOG_NAME,
            json.dumps({"at": utc_from_ts(now).isoformat(), "event": "RESET", "lock": detail["lock"]},
                       sort_keys=True, default=str),
        )
    except OSError as exc:
        failures.append(f"{EVENT_LOG_NAME}: {exc.strerror or exc}")
    if failures:
        out(
            "The lock was removed but the reset could not be recorded everywhere ("
            + "; ".join(failures)
            + "). Without the record the bot will hard-stop again at start if the figures still breach."
        )
        return EXIT_ERROR
    out(f"Kill switch reset at {utc_from_ts(now).isoformat()}. The bot may be started again.")
    return EXIT_OK


def _describe(info: LockInfo) -> str:
    if info.data is None:
        return f"(lock contents unreadable: {info.error})\n{info.raw}".rstrip()
    return json.dumps(info.data, indent=2, sort_keys=True, default=str)


def _record_reset(root: Path, db: Database, info: LockInfo, now: float, detail: dict[str, object]) -> list[str]:
    """Record the reset in `db` and, when the lock came from another mode, in that mode's database too.

    The total-loss baseline is read from the database of the mode that stopped, so the reset must be
    recorded there or the next start would stop again at once.
    """
    reason = str(info.data.get("reason", "unknown")) if info.data else "unreadable_lock"
    targets: list[Path] = [db.path]
    other = _lock_mode_db(root, info)
    if other is not None and other.resolve() != Path(db.path).resolve() and other.exists():
        targets.append(other)
    failures: list[str] = []
    for path in targets:
        try:
            if path == db.path:
                db.record_kill_event(now, "reset", reason, detail)
            else:
                with closing(Database(path)) as other_db:
                    other_db.record_kill_event(now, "reset", reason, detail)
        except (sqlite3.Error, OSError) as exc:
            failures.append(f"{path}: {type(exc).__name__}")
    return failures


def _lock_mode_db(root: Path, info: LockInfo) -> Path | None:
    figures = info.data.get("figures") if info.data else None
    mode = figures.get("mode") if isinstance(figures, dict) else None
    try:
        return db_path_for(root, Mode(str(mode))) if mode else None
    except ValueError:
        return None
