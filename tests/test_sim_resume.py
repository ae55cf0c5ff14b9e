"""A restarted --sim continues after the simulated time its database reached: nothing settled is replayed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from src.db import Database, db_path_for
from src.model.models import Mode
from tests.fakes.fault_daemon import DaemonRun, run_main
from tests.fakes.fault_project import make_project

pytestmark = pytest.mark.usefixtures("daemon_env")

FAST = {"kalshi": {"poll_interval_s": 0.2}, "execution": {"status_interval_s": 0.2}}
SIM_HOURS = 3.0


def _run_for_sim_hours(monkeypatch, root: Path, secrets, hours: float) -> tuple[float, float]:
    """One --sim run until its clock has moved `hours` simulated hours; (first, last) simulated time seen."""
    seen: dict[str, float] = {}

    async def scenario(run: DaemonRun) -> None:
        engine = await run.wait_engine()
        seen["start"] = engine.clock()
        await run.until(lambda: engine.clock() - seen["start"] >= hours * 3600, 30.0, f"{hours} simulated hours")
        await run.until(lambda: engine.db.health().get("heartbeat_ts") is not None, 10.0, "a heartbeat")
        seen["end"] = engine.clock()

    code, run = run_main(monkeypatch, ["--sim", "--speed", "20000"], root, scenario, key=secrets.private_key,
                         key_id=secrets.key_id)
    assert code == 0 and run is not None
    return seen["start"], seen["end"]


def test_a_restart_resumes_after_the_last_simulated_time(monkeypatch, tmp_path, secrets) -> None:
    root = make_project(tmp_path, config=FAST, env_text=secrets.env_text())
    first_start, _ = _run_for_sim_hours(monkeypatch, root, secrets, SIM_HOURS)
    assert first_start == pytest.approx(time.time(), abs=120)  # a new database starts at the wall clock
    db = Database(db_path_for(root, Mode.SIM))
    reached = db.latest_record_ts()
    first_trades = {t.id: t for t in db.all_trades()}
    health = db.health()
    db.close()
    # What the dashboard needs from the configuration, written by the daemon (the page reads no config file).
    assert float(health["dashboard_refresh_s"][0]) == 5.0 and health["starting_bankroll"][0] == "100.00"
    assert '"max_consecutive_losses":5' in health["risk_limits"][0]
    assert float(health["sim_lag_s"][0]) == 20.0  # the dashboard labels the synthetic book with it
    assert float(health["heartbeat_wall_ts"][0]) <= time.time() < float(health["heartbeat_ts"][0])
    assert reached is not None and reached > time.time() + 3600  # simulated time ran far ahead of real time

    second_start, _ = _run_for_sim_hours(monkeypatch, root, secrets, 0.5)
    assert second_start >= reached  # not back at the wall clock, replaying hours already simulated

    db = Database(db_path_for(root, Mode.SIM))
    try:
        trades = db.all_trades()
        settled_before = {t.ticker for t in first_trades.values() if t.status == "settled"}
        for t in trades:
            if t.id in first_trades:
                continue
            assert t.opened_ts >= reached and t.ticker not in settled_before, t
            assert t.status in ("open", "settled")
        for t in trades:  # a trade settled by the first run stays settled
            if t.id in first_trades and first_trades[t.id].status == "settled":
                assert t.status == "settled"
    finally:
        db.close()
