"""Assembles the Kalshi trading daemon (start-up steps 5-12) and runs its loop until a stop."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from src.cli.console import fail, say
from src.config import Settings
from src.model.exit_codes import EXIT_AUTH_HALT, EXIT_ERROR, EXIT_HARD_STOP, EXIT_LIVE_REFUSED, EXIT_OK, EXIT_USAGE
from src.model.models import Mode
from src.risk.lockfile import risk_root

log = logging.getLogger("polybot.main")


class _Late:
    """Lets components built early (the client, the feed) call ones built later (kill switch, engine)."""

    def __init__(self) -> None:
        self.target: Any = None
        self.pending: list[tuple[str, tuple[Any, ...]]] = []

    def call(self, method: str, *args: Any) -> None:
        if self.target is None:
            self.pending.append((method, args))
        else:
            getattr(self.target, method)(*args)

    def bind(self, target: Any) -> None:
        self.target = target
        for method, args in self.pending:
            getattr(target, method)(*args)
        self.pending.clear()


class _Resources:
    """What a run opened, closed in reverse on every way out (normal stop, refusal or error)."""

    def __init__(self, wait: Callable[..., Any] = asyncio.wait) -> None:
        self.db: Any = None
        self.cleanups: list[Callable[[], Any]] = []
        self.background: list[Any] = []  # CancelAllTask: a HARD STOP's cancel-all, run on the loop
        self._wait = wait  # asyncio.wait; a test's fake to skip the real minutes

    async def close(self) -> None:
        # The cancel-all gets its whole schedule before the client (a cleanup) closes under it; what is
        # still unfinished then is written up as "cancel-all not verified" first.
        from src.execution.cancel_all import finish_cancel_alls

        await finish_cancel_alls(self.background, wait=self._wait)
        for cleanup in reversed(self.cleanups):
            result = cleanup()
            if asyncio.iscoroutine(result):
                await result
        if self.db is not None:
            self.db.checkpoint()
            self.db.close()


async def build_and_run(
    settings: Settings,
    mode: Mode,
    root: Path,
    *,
    speed: float | None = None,
    replay: Path | None = None,
    kalshi_connector_factory: Callable[[], Any] | None = None,
    feed_connect: Callable[..., Any] | None = None,
    telegram_connector_factory: Callable[[], Any] | None = None,
    kalshi_ws_connect: Callable[..., Any] | None = None,
) -> int:
    """Steps 5-12 of the start-up sequence, then the main loop until a stop.

    The transport arguments let tests point the real clients and feed at local fake servers
    (the allowlists still check the real URLs); production passes none.
    """
    res = _Resources()
    try:
        code = await _start_and_run(settings, mode, root, res, speed=speed, replay=replay,
                                    kalshi_connector_factory=kalshi_connector_factory, feed_connect=feed_connect,
                                    telegram_connector_factory=telegram_connector_factory,
                                    kalshi_ws_connect=kalshi_ws_connect)
    finally:
        await res.close()
    if code == EXIT_HARD_STOP:
        print("HARD STOP: trading stopped. See kill_switch.lock and KILL_SWITCH_EVENT.log.", file=sys.stderr)
    elif code == EXIT_AUTH_HALT:
        print("HALTED: repeated authentication failures. See BLOCKERS.md.", file=sys.stderr)
    return code


def _kalshi_ws(settings: Settings, mode: Mode, client: Any, clock: Callable[[], float],
               connect: Callable[..., Any] | None, engine_ref: _Late) -> tuple[Any, Any]:
    """The Kalshi websocket (books, BRTI, live fills) and the market data that prefers its books."""
    from src.data.kalshi_ws import KalshiWs, ws_settings
    from src.data.live_market_data import LiveMarketData
    from src.platforms.kalshi import load_auth

    cfg = settings.app.kalshi
    url, timing = ws_settings(cfg, live=mode is Mode.LIVE)
    books = KalshiWs(url=url, signer=load_auth(settings, require=True), clock=clock, private=mode is Mode.LIVE,
                     series=cfg.series_ticker, connect=connect, timing=timing,
                     on_book=lambda ticker: engine_ref.call("notify_book", ticker))
    say(7, f"Kalshi websocket: {url} (books, BRTI{', own fills' if mode is Mode.LIVE else ''}; "
           f"decisions need a book current within {cfg.ws.max_book_age_ms} ms)")
    return books, LiveMarketData(client, books, clock, cfg.ws.max_book_age_ms / 1000)


async def _start_and_run(
    settings: Settings,
    mode: Mode,
    root: Path,
    res: _Resources,
    *,
    speed: float | None,
    replay: Path | None,
    kalshi_connector_factory: Callable[[], Any] | None,
    feed_connect: Callable[..., Any] | None,
    telegram_connector_factory: Callable[[], Any] | None = None,
    kalshi_ws_connect: Callable[..., Any] | None = None,
) -> int:
    from src.app.daemon_records import record_error
    from src.app.engine import Engine, EngineTiming
    from src.app.notify_runtime import NotifyRuntime, stop_reason
    from src.db import Database, db_path_for
    from src.execution.paper import PaperExecutor
    from src.execution.settlement import Settler
    from src.journal.trade_log import TradeLog
    from src.notify.pause import PauseGate
    from src.risk.kill_switch import KillSwitch
    from src.risk.sizing import SizingLimits, intent_from_signal, stage_for
    from src.strategies.btc_lag import BtcLagStrategy

    app = settings.app
    path = db_path_for(root, mode)
    say(5, f"opening database {path.relative_to(root) if path.is_relative_to(root) else path}")
    db = res.db = Database(path)
    # Notifications and remote control (paper and live; the simulator would flood the phone).
    notify = NotifyRuntime(settings, db, enabled=mode is not Mode.SIM,
                           telegram_connector_factory=telegram_connector_factory)
    res.cleanups.append(notify.close)
    notify.start_sending()
    gate = _Late()
    engine_ref = _Late()
    starting = settings.user.starting_bankroll_usd
    client: Any = None

    def cancel_all() -> None:
        # Only live orders can rest; paper and simulated orders fill or die on the spot. The kill
        # switch is synchronous: it schedules the verified, retried cancel-all, awaited before exit.
        if mode is Mode.LIVE and client is not None:
            from src.execution.live_setup import cancel_all_on_hard_stop

            cancel_all_on_hard_stop(client, risk_root(root, mode), clock, res.background)()

    def make_kill_switch(clock: Callable[[], float]) -> KillSwitch:
        ks_root = risk_root(root, mode)
        ks_root.mkdir(parents=True, exist_ok=True)
        ks = KillSwitch(app.risk, starting, db, ks_root, mode=mode, clock=clock, cancel_all=cancel_all,
                        on_event=notify.notifier.kill_switch)
        gate.bind(ks)  # replays any auth results the client reported before this point
        return ks

    sleep: Callable[[float], Any] = asyncio.sleep
    books: Any = None  # the Kalshi websocket's live books, when enabled
    book_reader: Any = None  # what the paper executor walks: the live book at the decision, else REST
    trade_feed: Any = None  # the BTC trade feed itself (the recorder taps it), under any BRTI anchor
    if mode is Mode.SIM:
        from src.data.price_files import PriceFileError
        from src.sim.components import build_sim_components

        try:  # a restart resumes after the simulated time the last run reached (sim/components.py)
            sim = build_sim_components(settings, replay=replay, speed=speed, resume_after=db.latest_record_ts(),
                                       on_tick=lambda: engine_ref.call("notify_tick"))
        except PriceFileError as exc:
            return fail(f"--replay: {exc}", EXIT_USAGE)
        clock, feed, market_data, sleep = sim.clock, sim.feed, sim.exchange, sim.sleep
        trade_feed = feed
        say(6, "simulated KXBTC15M exchange ready (offline, no credentials)")
        say(7, f"price source: {replay if replay else 'built-in generator'} at {sim.speed:g}x real time")
    else:
        from src.data.feeds import make_feed
        from src.platforms.kalshi import KalshiClient, KalshiError

        clock = time.time
        overrides: dict[str, Any] = {}
        if kalshi_connector_factory is not None:
            overrides["connector_factory"] = kalshi_connector_factory
        client = KalshiClient.from_settings(
            settings,
            require_auth=True,
            **overrides,
            on_auth_failure=lambda code: gate.call("record_auth_failure", code),
            on_auth_success=lambda: gate.call("record_auth_success"),
        )
        res.cleanups.append(client.close)
        try:
            status = await client.get_exchange_status()
            balance_note = f", balance ${await client.get_balance()}" if mode is Mode.LIVE else ""
        except KalshiError as exc:
            # Build the kill switch anyway so a 401 here is counted (and BLOCKERS.md written after
            # three): otherwise a skewed clock could fail every start without a trace.
            ks = make_kill_switch(clock)
            fail(f"Kalshi start-up check failed: {exc} (run --verify for hints)", EXIT_ERROR)
            return ks.exit_code if ks.should_exit else EXIT_ERROR
        say(6, f"Kalshi {app.kalshi.env} keys loaded, market data from {app.kalshi.market_data_env}: exchange "
            f"{'open' if status.trading_active else 'not trading now'}{balance_note}")
        market_data = client
        if app.kalshi.ws.enabled:
            books, book_reader = _kalshi_ws(settings, mode, client, clock, kalshi_ws_connect, engine_ref)
        feed = trade_feed = make_feed(app.feed, clock, connect=feed_connect,
                                      on_tick=lambda: engine_ref.call("notify_tick"))
        if books is not None:
            from src.data.brti import BrtiAnchor

            anchor = BrtiAnchor(feed, books, clock)  # the fair value prices BRTI, the settlement index
            books.listen_index(anchor.on_index)
            feed = anchor
        say(7, f"BTC feed: {app.feed.source} (connects when the loop starts)")

    from src.recording.session import open_recording, recording_root, should_record

    recording = None
    order_books = book_reader or market_data
    if should_record(app.recording, mode):
        folder = recording_root(root, mode)
        recording = open_recording(app.recording, folder, market_data, clock, sleep,
                                   meta={"mode": mode.value, "feed": trade_feed.source,
                                         "series": app.kalshi.series_ticker,
                                         "market_data_env": app.kalshi.market_data_env},
                                   order_market_data=order_books)
        res.cleanups.append(recording.close)
        recording.tap_feed(trade_feed)
        if books is not None:
            recording.tap_books(books)  # websocket books (snapshot + seq'd deltas), prints, BRTI, lifecycle
        print(f"        recording what the bot sees to {folder}", flush=True)

    trade_log = TradeLog(root / "logs" / "trades", clock)
    kill_switch = make_kill_switch(clock)
    ks_status = kill_switch.status()
    say(8, f"kill switch {ks_status.state.value}: bankroll ${ks_status.bankroll}, today's P&L ${ks_status.today_pnl}")
    if kill_switch.should_exit:
        return kill_switch.exit_code

    pause_gate = PauseGate(kill_switch)  # Telegram /pause; the kill switch's refusals always win
    poly_confirmed = False  # Polymarket US live: set once its typed confirmation was given (step 11)
    submitted = lambda intent: kill_switch.record_order_submitted(intent.client_order_id)  # noqa: E731
    reconciled: Callable[[], bool] = lambda: True  # noqa: E731
    reconcile_reason: Callable[[], str] = lambda: "reconciling"  # noqa: E731
    resync: Callable[[], Any] | None = None
    resolve_pending: Callable[[], Any] | None = None
    executor: Any = None
    if mode is not Mode.LIVE:  # the live executor is built once the person has confirmed (step 11)
        executor = PaperExecutor(recording.order if recording else order_books, db, trade_log, clock,
                                 pause_gate.check_order_allowed,
                                 time_in_force=app.execution.time_in_force, on_order_submitted=submitted)
        interrupted = executor.fail_interrupted()
        if interrupted:
            log.warning("%d paper order(s) interrupted by the last shutdown were marked failed", interrupted)
    settler = Settler(recording.settle if recording else market_data, db, trade_log, clock, starting,
                      kill_switch.record_trade_result,
                      settlements=client if mode is Mode.LIVE else None, mode=mode.value)
    venue_events = None
    if books is not None:  # determined/settled markets settle at once; order groups and fees feed live's checks
        from src.execution.venue_events import VenueEventRouter

        venue_events = VenueEventRouter(expedite=settler.expedite, settle_soon=lambda: engine_ref.call("settle_soon"))
        books.route_venue_events(on_order_group=venue_events.on_order_group, on_lifecycle=venue_events.on_lifecycle,
                                 on_fee_update=venue_events.on_fee_update)
    settler = notify.tap_settler(settler)
    if executor is not None:
        executor = notify.tap_executor(executor)
    say(9, f"not a --verify run: continuing; {notify.describe()}")

    stage = stage_for(kill_switch.bankroll)
    banner = (f"{mode.value.upper()} MODE | bankroll ${kill_switch.bankroll} (stage {stage.number}) | "
              f"kill switch {ks_status.state.value} | dashboard: .venv/bin/streamlit run src/dashboard.py")
    say(10, banner)

    if mode is Mode.LIVE:
        from src.execution.live import LiveGuardError, check_live_guards
        from src.execution.live_setup import start_live

        say(11, "live mode: confirmation required")
        try:
            check_live_guards(settings.live_trading_enabled, True, sys.stdin.isatty(), input, sys.stdout)
        except LiveGuardError as exc:
            return fail(str(exc), EXIT_LIVE_REFUSED)
        if app.platforms.polymarket.enabled:
            from src.app.poly_us_daemon import confirm_live

            refusal = confirm_live(sys.stdin.isatty(), input, sys.stdout)
            if refusal is not None:
                return fail(refusal, EXIT_LIVE_REFUSED)
            poly_confirmed = True
        try:
            live = await start_live(client, db, trade_log, clock, lock_root=risk_root(root, mode),
                                    max_trade_usd=app.risk.max_single_trade_usd,
                                    time_in_force=app.execution.time_in_force,
                                    kill_switch_check=pause_gate.check_order_allowed,
                                    on_hard_stop=kill_switch.refresh, on_order_submitted=submitted,
                                    on_reconcile=lambda report: notify.notifier.reconciliation(report.discrepancies),
                                    on_filled=notify.notifier.order_filled,  # every path that records a fill
                                    user_stream=books)
        except KalshiError as exc:
            return fail(f"live start-up refused: could not set up the exchange-side order group or checks: {exc}",
                        EXIT_ERROR)
        for item in live.first_report.discrepancies:
            log.warning("reconciliation: %s %s %s", item.code, item.ticker, item.detail)
        if live.tripwire.refusal():
            log.error("fee tripwire: %s", live.tripwire.refusal())
        if books is not None:
            live.schedule.follow(lambda: books.reconnects)  # a websocket reconnect is a reconnect too
        if venue_events is not None:
            venue_events.attach_live(live.guard, live.tripwire)
        executor = live.executor  # not tapped: its fills are told through on_filled, found now or later
        resolve_pending, resync = live.executor.resolve_pending, live.upkeep
        reconciled, reconcile_reason = live.reconciled, live.halt_reason
    else:
        say(11, f"{mode.value} mode: no real orders will be sent")
        if mode is Mode.SIM:  # every synthetic figure is labelled as such (issue 20)
            from src.model.book_label import synthetic_book_label

            print(f"        {synthetic_book_label(float(app.sim.lag_s))}", flush=True)

    limits = SizingLimits.from_config(app.sizing, app.risk)
    engine = Engine(
        mode=mode,
        feed=feed,
        market_data=recording.poll if recording else market_data,
        strategy=BtcLagStrategy(app.strategy.btc_lag),
        size=lambda sig, bankroll: intent_from_signal(sig, bankroll, limits),
        gate=pause_gate,
        executor=executor,
        settler=settler,
        db=db,
        bankroll=lambda: kill_switch.bankroll,
        clock=clock,
        sleep=sleep,
        status_sleep=asyncio.sleep,
        timing=EngineTiming(poll_interval_s=app.kalshi.poll_interval_s,
                            status_interval_s=app.execution.status_interval_s,
                            max_live_book_age_s=app.kalshi.ws.max_book_age_ms / 1000),
        reconciled=reconciled,
        reconcile_reason=reconcile_reason,
        resync=resync,
        resolve_pending=resolve_pending,
        on_error=lambda source, message: record_error(db, clock(), source, message),
        on_decision=recording.on_decision if recording else None,
        books=books,
    )
    engine_ref.bind(engine)
    db.set_health({"mode": mode.value, "started_ts": repr(clock()), "starting_bankroll": str(starting),
                   "dashboard_refresh_s": repr(float(app.dashboard.refresh_s)),
                   "risk_limits": app.risk.model_dump_json(),
                   # --sim's book is synthetic: the dashboard labels it with the lag it assumed.
                   **({"sim_lag_s": repr(float(app.sim.lag_s))} if mode is Mode.SIM else {})}, clock())
    poly_stop = asyncio.Event()
    poly_task: asyncio.Task[int] | None = None
    if mode is Mode.PAPER or poly_confirmed:  # Polymarket copy trading runs beside Kalshi (off by default)
        from src.app.poly_us_daemon import run_polymarket

        poly_task = asyncio.create_task(run_polymarket(settings, root, stop=poly_stop, mode=mode, clock=clock,
                                                       live_confirmed=poly_confirmed,
                                                       notify=notify, pause_gate=pause_gate))  # /pause, /halt too
    watch_task = asyncio.create_task(recording.watcher.run(poly_stop)) if recording else None
    _install_signal_handlers(lambda: (engine.request_stop(EXIT_OK), poly_stop.set()))
    notify.start_for_daemon(engine=engine, feed=feed, kill_switch=kill_switch, pause_gate=pause_gate,
                            kill_switch_root=risk_root(root, mode),
                            request_stop=lambda code: (engine.request_stop(code), poly_stop.set()),
                            mode=mode.value, starting_bankroll=starting)
    notify.notifier.started(mode.value, kill_switch.bankroll, ks_status.state.value)
    say(12, "main loop running (Ctrl-C to stop)")
    code = EXIT_ERROR
    try:
        code = await engine.run()
    finally:
        notify.notifier.stopped(mode.value, kill_switch.bankroll, code, stop_reason(code))
        poly_stop.set()
        if watch_task is not None:
            watch_task.cancel()
            await asyncio.gather(watch_task, return_exceptions=True)
        poly_code = EXIT_OK
        if poly_task is not None:
            try:
                poly_code = await poly_task
            except Exception as exc:  # noqa: BLE001 - Polymarket must never take Kalshi down
                log.error("polymarket paper trading failed: %s", exc, exc_info=exc)
                poly_code = EXIT_ERROR
    return code if code != EXIT_OK else poly_code


def _install_signal_handlers(stop: Callable[[], Any]) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop)
        except (NotImplementedError, RuntimeError):
            pass
