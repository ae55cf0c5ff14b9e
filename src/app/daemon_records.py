"""What a running daemon leaves in its database for people (error rows, health rows), never fatal to trading."""

from __future__ import annotations

import logging
import os
import time

from src.db import Database

log = logging.getLogger("polybot.records")


def record_error(db: Database, ts: float, source: str, message: str) -> None:
    """One row of the errors table; a database that cannot take it is logged, never raised."""
    try:
        db.record_error(ts, source, message)
    except Exception as exc:  # noqa: BLE001 - the error table is informational; never stop trading on it
        log.warning("could not record an error: %s", exc)


def write_health(
    db: Database, values: dict[str, str], now: float, *, wall_now: float | None = None, pid: int | None = None
) -> None:
    """The daemon's health rows, stamped with its own clock `now`, plus the proof of life the dashboard trusts.

    The simulator's clock runs ahead of the wall clock, so `heartbeat_ts` alone would make a
    stopped simulator look alive: `heartbeat_wall_ts` (real time) and `pid` say whether the
    process is still there. A database that cannot take the rows is logged, never raised.
    """
    rows = {
        **values,
        "heartbeat_wall_ts": repr(time.time() if wall_now is None else wall_now),
        "pid": str(os.getpid() if pid is None else pid),
    }
    try:
        db.set_health(rows, now)
    except Exception as exc:  # noqa: BLE001 - health is informational; never stop trading on it
        log.warning("could not write health: %s", exc)
