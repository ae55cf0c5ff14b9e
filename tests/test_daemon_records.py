"""The daemons' shared error and health rows: stamped with the wall clock and pid, never fatal."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from src.app.daemon_records import record_error, write_health
from src.db import Database


def test_health_carries_the_wall_clock_and_pid_beside_the_daemons_own_clock(tmp_path: Path) -> None:
    db = Database(tmp_path / "sim.db")
    sim_now = time.time() + 5 * 86400  # the simulator's clock, days ahead of real time
    before = time.time()
    write_health(db, {"heartbeat_ts": repr(sim_now), "kill_state": "active"}, sim_now)
    health = db.health()
    assert float(health["heartbeat_ts"][0]) == sim_now
    assert before <= float(health["heartbeat_wall_ts"][0]) <= time.time()
    assert int(health["pid"][0]) == os.getpid()
    write_health(db, {}, sim_now, wall_now=123.5, pid=42)
    assert db.health()["heartbeat_wall_ts"][0] == "123.5" and db.health()["pid"][0] == "42"
    db.close()


def test_a_database_that_refuses_rows_is_logged_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = Database(tmp_path / "paper.db")
    db.close()  # every write now raises sqlite3.ProgrammingError
    with caplog.at_level(logging.WARNING, logger="polybot.records"):
        write_health(db, {"mode": "paper"}, 1.0)
        record_error(db, 1.0, "feed", "websocket closed")
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [
        "could not write health", "could not record an error"
    ]


def test_errors_are_recorded(tmp_path: Path) -> None:
    db = Database(tmp_path / "paper.db")
    record_error(db, 100.0, "order", "HTTP 503")
    assert db.errors_since(99.0) == 1 and db.errors_since(101.0) == 0
    db.close()
