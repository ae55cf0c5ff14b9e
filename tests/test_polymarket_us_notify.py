"""Polymarket US beside Kalshi, end to end against the fake venues and a local webhook: its fills and kill switch
reach the owner naming the venue, a Telegram /pause refuses its new orders, a /halt locks and cancels it."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

from src.app.notify_runtime import NotifyRuntime
from src.app.poly_us_daemon import run_polymarket_us
from src.app.remote_controls import DaemonControls
from src.config import Secrets, Settings
from src.db import Database, PolymarketDatabase, db_path_for
from src.model.exit_codes import EXIT_HARD_STOP
from src.model.file_locations import us_db_path, us_risk_root
from src.model.models import Mode
from src.notify.pause import PAUSED_REASON, PauseGate
from src.risk.kill_switch import KillSwitch
from src.risk.lockfile import read_lock
from tests import test_polymarket_us_daemon as venue_tests
from tests.fakes.polymarket_server import DATA_HOST, connector_factory
from tests.fakes.polymarket_us_server import API_HOST, GATEWAY_HOST
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.test_polymarket_us_daemon import EVENT, EVENT2, T0, US_SLUG, WHALE, WHALE2, intl_trade, settings

# The fake venues (Polymarket US, the international Data API) exactly as the daemon's own tests set them up.
us, data_api = venue_tests.us, venue_tests.data_api  # on conftest's us_tls, us_key and us_fake

OWNER = "Telegram chat 515151"


async def test_polymarket_us_live_is_told_paused_and_halted_with_kalshi(
    tmp_path: Path, us_tls: Any, us: Any, data_api: Any, clock: Any, us_key: Any
) -> None:
    clock.now = float(T0)
    async with WebhookReceiver() as hook:
        base = settings(tmp_path, us_key)
        cfg = Settings(base.app, base.user, Secrets({**base.secrets.values, "NOTIFY_URLS": hook.url}), tmp_path)
        # Kalshi's side of the run, as main.py builds it: its database, kill switch, pause gate and controls.
        kalshi_root = tmp_path / "kalshi"
        kalshi_root.mkdir()
        kalshi_db = Database(db_path_for(tmp_path, Mode.LIVE))
        notify = NotifyRuntime(cfg, kalshi_db, clock=clock)
        kalshi_ks = KillSwitch(cfg.app.risk, Decimal("100"), kalshi_db, kalshi_root, mode=Mode.LIVE, clock=clock,
                               cancel_all=lambda: None, out=lambda _: None, on_event=notify.notifier.kill_switch)
        pause_gate = PauseGate(kalshi_ks)
        notify.notifier.lock_root = kalshi_root  # as start_for_daemon sets it
        stops: list[int] = []
        stop = asyncio.Event()

        def request_stop(code: int) -> None:  # as main.py's: Kalshi's engine and the Polymarket loop both stop
            stops.append(code)
            stop.set()

        controls = DaemonControls(status_line=lambda: "", pause_gate=pause_gate, kill_switch=kalshi_ks,
                                  kill_switch_root=kalshi_root, db=kalshi_db, clock=clock,
                                  request_stop=request_stop, also_halt=notify.halt_targets)
        notify.start_sending()
        replies: list[str] = []
        us_root = us_risk_root(tmp_path, Mode.LIVE)

        def whale_buys() -> None:
            data_api.add_trade(intl_trade(WHALE, 1, int(clock()) - 2, event=EVENT, outcome="Titans", price=0.62))

        def owner_pauses_then_whale_buys() -> None:
            replies.append(controls.pause(OWNER))
            data_api.add_trade(intl_trade(WHALE2, 2, int(clock()) - 1, event=EVENT2, outcome="Packers", price=0.61))

        def owner_halts() -> None:
            replies.append(controls.resume())
            replies.append(controls.halt(OWNER))

        steps = [whale_buys, owner_pauses_then_whale_buys, owner_halts]

        async def script(seconds: float) -> None:
            clock.advance(seconds)
            if steps:
                steps.pop(0)()
            else:
                stop.set()  # only if the halt did not end the loop

        code = await run_polymarket_us(
            cfg, tmp_path, stop=stop, mode=Mode.LIVE, clock=clock, live_confirmed=True,
            notify=notify, pause_gate=pause_gate,
            us_connector_factory=connector_factory(us_tls, {API_HOST: us.port, GATEWAY_HOST: us.port}),
            data_connector_factory=connector_factory(us_tls, {DATA_HOST: data_api.port}),
            out=lambda _: None, sleep=script,
        )  # fmt: skip
        await notify.close()
        kalshi_db.close()

    assert code == EXIT_HARD_STOP and stops == [EXIT_HARD_STOP]
    # One order only: the whale buy after /pause was refused by the shared pause, never sent.
    assert len(us.created) == 1 and us.created[0]["marketSlug"] == US_SLUG
    db = PolymarketDatabase(us_db_path(tmp_path, Mode.LIVE))
    try:
        codes = [r[0] for r in db._conn.execute("SELECT code FROM whale_activity ORDER BY id")]
    finally:
        db.close()
    assert codes == ["copied", f"kill_switch:{PAUSED_REASON}"]
    assert "no new orders on Kalshi or Polymarket US" in replies[0]
    assert "HARD STOP on Kalshi" in replies[2] and "Polymarket US HARD STOP" in replies[2]
    # /halt: both locks written, Polymarket US's open orders cancelled at the venue (its own cancel-all).
    for root in (us_root, kalshi_root):
        lock = read_lock(root)
        assert lock is not None and lock.data is not None and lock.data["reason"] == "remote_halt", root
    assert us.hits("/v1/orders/open/cancel")
    titles = [m["title"] for m in hook.received]
    text = {m["title"]: m["message"] for m in hook.received}
    assert titles[0] == "Polymarket US started (LIVE)"
    filled = [t for t in titles if t.startswith("Filled:")]
    assert len(filled) == 1 and filled[0].endswith(f"{US_SLUG} [Polymarket US]")
    assert text[filled[0]].startswith("Polymarket US: bought")
    halts = [t for t in titles if t.startswith("HARD STOP")]
    assert sorted(halts) == ["HARD STOP (remote_halt) [Kalshi]", "HARD STOP (remote_halt) [Polymarket US]"]
    us_halt = text["HARD STOP (remote_halt) [Polymarket US]"]
    assert "--reset-killswitch --mode polymarket-us-live" in us_halt and OWNER in us_halt
    assert titles[-1] == "Polymarket US stopped (LIVE)" and "exit code 3" in text[titles[-1]]



async def test_main_entry_hands_notify_and_the_pause_gate_to_polymarket_us(tmp_path: Path, monkeypatch: Any) -> None:
    """run_polymarket (main.py's one call) passes both on; the international paper copier takes neither."""
    from src.app import poly_us_daemon

    seen: dict[str, Any] = {}

    async def fake_us(*args: Any, **kwargs: Any) -> int:
        seen.update(kwargs)
        return 0

    monkeypatch.setattr(poly_us_daemon, "run_polymarket_us", fake_us)
    marker_notify, marker_gate = object(), object()
    cfg = settings(tmp_path, None)
    assert await poly_us_daemon.run_polymarket(cfg, tmp_path, stop=asyncio.Event(), mode=Mode.PAPER,
                                               notify=marker_notify, pause_gate=marker_gate) == 0  # type: ignore[arg-type]
    assert seen["notify"] is marker_notify and seen["pause_gate"] is marker_gate
    daemon_text = (Path(__file__).resolve().parents[1] / "src" / "app" / "kalshi_daemon.py").read_text()
    call = daemon_text[daemon_text.index("run_polymarket(settings, root"):]
    assert "notify=notify, pause_gate=pause_gate" in call[:400]  # the daemon's assembly wires the run's own ones in
