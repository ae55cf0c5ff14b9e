"""Polymarket US start-up: wire the isolated paper or live components around the mapped whale-copy loop and run it.

Isolation (DECISIONS.md §5, §6, §8), per mode:
  database       data/polymarket_us_paper.db | data/polymarket_us_live.db
  kill switch    its own, rooted at data/polymarket_us/paper | data/polymarket_us/live (own lock,
                 KILL_SWITCH_EVENT.log), rebuilt from that database only
  bankroll       USER_CONFIG.json starting_bankroll_usd + that database's realised P&L
  trade log      logs/trades/polymarket_us/{paper,live}/YYYY-MM-DD.jsonl
Shared: config.yaml's risk and sizing limits (the same caps, counted separately per venue/mode).

Paper: the real US book (public gateway, no key needed) fills simulated orders; no order
endpoint is ever called. Live: PolyUsLiveExecutor sends real orders, only after main.py's
guards (LIVE_TRADING=true, --live) AND a typed confirmation naming Polymarket US here, and only
after a reconciliation with the venue passed.

Fees: paper fills pay the pessimistic 0.07 x p x (1 - p) per share of src/app/poly_daemon.py (the
strategy's edge uses the same figure); live fills book the commission the venue reports.

.env (never written by code): POLYMARKET_KEY_ID and POLYMARKET_SECRET_KEY, the API key made at
polymarket.us/developer; required for live, optional for paper.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from src.app.notify_runtime import NotifyRuntime, stop_reason
from src.app.poly_daemon import PAPER_TAKER_FEE_RATE, REFRESH_WHALES_S, SETTLE_INTERVAL_S, SETTLE_RETRY_S
from src.app.poly_us_loop import UsWhaleCopyLoop
from src.app.whale_loop import WhaleLoopTiming
from src.auth.poly_us_auth import KEY_ID_ENV, SECRET_ENV, PolyUsAuthError, PolyUsKey
from src.config import Settings, env_file
from src.data.whale_tracker import WhaleTracker
from src.db import PolymarketDatabase
from src.execution.cancel_all import CancelAllRunner, CancelAllTask, finish_cancel_alls
from src.execution.cancel_all_venues import POLYMARKET_US, PolymarketUsCancelAll
from src.execution.paper import PaperExecutor
from src.execution.poly_settlement import PolySettler
from src.execution.poly_us_live import PolyUsLiveExecutor
from src.journal.log_setup import register_secret
from src.journal.trade_log import TradeLog
from src.journal.whale_journal import ensure_whale_activity
from src.model.exit_codes import EXIT_ERROR, EXIT_LIVE_REFUSED, EXIT_OK, EXIT_USAGE
from src.model.file_locations import us_db_path, us_risk_root
from src.model.models import Clock, Mode, OrderIntent, Signal, Sleep
from src.model.report_modes import us_reset_command
from src.net.backoff import RetryPolicy
from src.net.http_session import ConnectorFactory
from src.notify.pause import PauseGate
from src.platforms.polymarket_us import PolymarketUSClient
from src.platforms.polymarket_us_map import UsMarketMapper
from src.risk.kill_switch import KillSwitch, print_stderr, startup_lock_check
from src.risk.sizing import SizingLimits, intent_from_signal
from src.strategies.whale_copy import WhaleCopyStrategy

log = logging.getLogger("polybot.poly_us_daemon")

VENUE = "Polymarket US"  # as notifications and Telegram replies name it
CONFIRM_WORD = "LIVE"
BANNER = r"""
################################################################################
#                                                                              #
#   P O L Y M A R K E T   U S   L I V E   T R A D I N G                        #
#                                                                              #
#   The whale copier is about to place REAL orders with REAL money on          #
#   Polymarket US. Losses are real and final. Its own kill switch limits       #
#   them; it cannot prevent them. Do not trade by hand in the markets it       #
#   trades while it runs.                                                      #
#                                                                              #
#   To go on, type the word LIVE (capital letters) and press Enter.            #
#                                                                              #
################################################################################
"""


class PolymarketUsSetupError(Exception):
    """Polymarket US is enabled but its keys are missing or malformed (one line, no secret values)."""


def us_trade_log_dir(root: Path, mode: Mode) -> Path:
    return root / "logs" / "trades" / "polymarket_us" / mode.value


def load_us_key(settings: Settings, *, required: bool) -> PolyUsKey | None:
    """The API key from .env: None when absent and not required; an error when partial or bad."""
    key_id, secret = settings.secrets.get(KEY_ID_ENV), settings.secrets.get(SECRET_ENV)
    register_secret(key_id)
    register_secret(secret)
    if not key_id and not secret:
        if required:
            raise PolymarketUsSetupError(f"Polymarket US live trading needs {KEY_ID_ENV} and {SECRET_ENV} in .env "
                                         "(make an API key at polymarket.us/developer)")  # fmt: skip
        return None
    if not key_id or not secret:
        missing = KEY_ID_ENV if not key_id else SECRET_ENV
        raise PolymarketUsSetupError(f"Polymarket US key is partial: {missing} is missing from .env")
    env = env_file(settings.root)
    try:
        if os.name == "posix" and env.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning("%s holds the Polymarket US secret and is readable by others; run: chmod 600 %s", env, env)
    except OSError:
        pass
    try:
        return PolyUsKey.load(key_id, secret)
    except PolyUsAuthError as exc:
        raise PolymarketUsSetupError(str(exc)) from None


def confirm_live(isatty: bool, input_fn: Callable[[str], str], out: TextIO) -> str | None:
    """The typed confirmation for Polymarket US live trading; None when given, else why not."""
    if not isatty:
        return "live trading refused: no terminal attached to confirm Polymarket US live trading"
    out.write(BANNER)
    out.flush()
    try:
        answer = input_fn(f"Type {CONFIRM_WORD} to trade Polymarket US with real money: ")
    except (EOFError, KeyboardInterrupt):
        return "live trading refused: no Polymarket US confirmation was typed"
    if answer.strip() != CONFIRM_WORD:
        return f"live trading refused: the Polymarket US confirmation was not the word {CONFIRM_WORD}"
    return None


@dataclass
class _Late:
    """The client reports auth results before the kill switch exists; they are replayed into it."""

    target: KillSwitch | None = None
    pending: list[str | None] | None = None

    def failure(self, code: str) -> None:
        self._call(code)

    def success(self) -> None:
        self._call(None)

    def _call(self, code: str | None) -> None:
        if self.target is None:
            self.pending = [*(self.pending or []), code]
        elif code is None:
            self.target.record_auth_success()
        else:
            self.target.record_auth_failure(code)

    def bind(self, target: KillSwitch) -> None:
        self.target = target
        for code in self.pending or []:
            self._call(code)
        self.pending = None


async def run_polymarket_us(
    settings: Settings,
    root: Path,
    *,
    stop: asyncio.Event,
    mode: Mode = Mode.PAPER,
    clock: Clock = time.time,
    us_connector_factory: ConnectorFactory | None = None,
    data_connector_factory: ConnectorFactory | None = None,
    out: Callable[[str], None] = print,
    sleep: Sleep | None = None,
    live_confirmed: bool = False,
    notify: NotifyRuntime | None = None,
    pause_gate: PauseGate | None = None,
) -> int:
    """Run Polymarket US whale copying (paper or live) until `stop` is set; returns a process exit code.

    Live needs `live_confirmed`: main.py passes it after LIVE_TRADING=true, --live and the typed
    confirmation of `confirm_live` (asked before the event loop runs anything else).

    notify (main.py's NotifyRuntime): fills, settlements and this kill switch's changes are told,
    each naming Polymarket US, and a Telegram /halt hard-stops this kill switch too. pause_gate
    (main.py's, in front of Kalshi's kill switch): its /pause also refuses new orders here.
    """
    cfg = settings.app.platforms.polymarket
    if not cfg.enabled:
        return EXIT_OK
    if mode not in (Mode.PAPER, Mode.LIVE):
        raise ValueError(f"Polymarket US runs in paper or live mode, not {mode.value}")
    live = mode is Mode.LIVE
    try:
        key = load_us_key(settings, required=live)
    except PolymarketUsSetupError as exc:
        print_stderr(f"polymarket us: {exc}")
        return EXIT_USAGE
    if live and not live_confirmed:
        print_stderr("live trading refused: Polymarket US live trading was not confirmed")
        return EXIT_LIVE_REFUSED
    late = _Late()
    policy = RetryPolicy(max_attempts=cfg.max_attempts, budget_s=cfg.retry_budget_s)
    client = PolymarketUSClient(
        key, clock=clock, connector_factory=us_connector_factory, reads_per_s=cfg.reads_per_s,
        writes_per_s=cfg.writes_per_s, retry_policy=policy, timeout_s=cfg.request_timeout_s,
        on_auth_failure=late.failure, on_auth_success=late.success,
    )  # fmt: skip
    tracker = WhaleTracker(cfg.whale, clock, connector_factory=data_connector_factory, reads_per_s=cfg.reads_per_s,
                           retry_policy=policy, timeout_s=cfg.request_timeout_s)  # fmt: skip
    db: PolymarketDatabase | None = None
    background: list[CancelAllTask] = []
    try:
        ks_root = us_risk_root(root, mode)
        code = startup_lock_check(ks_root)
        if code != EXIT_OK:
            return code
        app = settings.app
        starting = settings.user.starting_bankroll_usd
        db = PolymarketDatabase(us_db_path(root, mode))
        ensure_whale_activity(db)
        ks_root.mkdir(parents=True, exist_ok=True)

        def cancel_all() -> None:
            if live:  # the kill switch is synchronous: it schedules the checked, retried cancel-all, awaited below
                runner = CancelAllRunner(PolymarketUsCancelAll(client), ks_root, clock, sleep or asyncio.sleep,
                                         out=print_stderr, label=POLYMARKET_US)
                background.append(runner.start())

        notifier = (notify.venue_notifier(VENUE, lock_root=ks_root, reset_command=us_reset_command(mode))
                    if notify is not None else None)
        kill_switch = KillSwitch(app.risk, starting, db, ks_root, mode=mode, clock=clock, cancel_all=cancel_all,
                                 on_event=notifier.kill_switch if notifier is not None else None)
        late.bind(kill_switch)
        if kill_switch.should_exit:
            return kill_switch.exit_code
        if notify is not None:
            notify.add_halt_target(VENUE, kill_switch, ks_root)
        # Every order passes the Telegram pause (shared with Kalshi's) after this venue's own kill switch.
        gate = pause_gate.sharing(kill_switch) if pause_gate is not None else kill_switch
        trade_log = TradeLog(us_trade_log_dir(root, mode), clock)
        submitted = lambda intent: kill_switch.record_order_submitted(intent.client_order_id)  # noqa: E731
        executor: Any
        if live:
            executor = PolyUsLiveExecutor(client, db, trade_log, clock, gate.check_order_allowed,
                                          time_in_force=app.execution.time_in_force, on_order_submitted=submitted,
                                          # every path that records a fill (answer, look-up, reconciliation)
                                          on_filled=notifier.order_filled if notifier is not None else None)
            try:
                balance = await client.get_balance()
                reconciled = await executor.reconcile()
            except Exception as exc:  # noqa: BLE001 - one line for the owner; details in logs/errors/
                print_stderr(f"polymarket us: start-up check failed: {type(exc).__name__}: {exc} (run --verify)")
                return kill_switch.exit_code if kill_switch.should_exit else EXIT_ERROR
            out(f"POLYMARKET US LIVE | venue balance ${balance.current_balance} | reconciliation "
                f"{'ok' if reconciled else 'NOT ok: no order until it is'}")
        else:
            executor = PaperExecutor(client, db, trade_log, clock, gate.check_order_allowed,
                                     time_in_force=app.execution.time_in_force,
                                     fee_multiplier=PAPER_TAKER_FEE_RATE, on_order_submitted=submitted)
            interrupted = executor.fail_interrupted()
            if interrupted:
                log.warning("%d Polymarket US paper order(s) interrupted by the last shutdown were marked failed",
                            interrupted)  # fmt: skip
        settler = PolySettler(client, db, trade_log, clock, starting, kill_switch.record_trade_result,
                              mode=f"polymarket_us_{mode.value}", retry_after_s=SETTLE_RETRY_S)  # fmt: skip
        limits = SizingLimits.from_config(app.sizing, app.risk)

        def size(signal: Signal, bankroll: Decimal, client_order_id: str) -> OrderIntent | None:
            return intent_from_signal(signal, bankroll, limits, client_order_id=client_order_id)

        loop = UsWhaleCopyLoop(
            mapper=UsMarketMapper(client, clock), live=live, client=client, tracker=tracker,
            resolve=executor.resolve_pending if live else None,
            strategy=WhaleCopyStrategy(cfg.whale, enabled=True, taker_fee_rate=PAPER_TAKER_FEE_RATE),
            # A live executor tells its fills through on_filled; only paper's are tapped.
            size=size, gate=gate, executor=notify.tap_executor(executor, notifier) if notify and not live else executor,
            settler=notify.tap_settler(settler, notifier) if notify else settler, db=db, clock=clock,
            timing=WhaleLoopTiming(poll_interval_s=cfg.whale.poll_interval_s, refresh_whales_s=REFRESH_WHALES_S,
                                   settle_interval_s=SETTLE_INTERVAL_S),
            sleep=sleep, out=out,
        )  # fmt: skip
        db.set_health({"mode": loop.mode_name, "venue": "us", "started_ts": repr(clock()),
                       "starting_bankroll": str(starting)}, clock())  # fmt: skip
        out(f"POLYMARKET US {mode.value.upper()} MODE | whale copy | bankroll ${kill_switch.bankroll} | kill switch "
            f"{kill_switch.status().state.value} | {db.path.name}"
            + ("" if live else " | no real Polymarket orders will be sent"))
        if notifier is not None:
            notifier.started(mode.value, kill_switch.bankroll, kill_switch.status().state.value, venue=VENUE)
        code = await loop.run(stop)
        if code == EXIT_OK and kill_switch.should_exit:
            # A /halt also sets `stop` (main.py's request_stop): the loop ends on the stop before it
            # reads the kill switch, which is hard-stopped all the same.
            code = kill_switch.exit_code
        if notifier is not None:
            notifier.stopped(mode.value, kill_switch.bankroll, code, stop_reason(code), venue=VENUE)
        return code
    finally:
        await finish_cancel_alls(background)  # its whole schedule, else "not verified", before the close
        await client.close()
        await tracker.close()
        if db is not None:
            db.checkpoint()
            db.close()


async def run_polymarket(settings: Settings, root: Path, *, stop: asyncio.Event, mode: Mode,
                         clock: Clock = time.time, live_confirmed: bool = False,
                         notify: NotifyRuntime | None = None, pause_gate: PauseGate | None = None) -> int:  # fmt: skip
    """main.py's one entry: the configured venue's runner (international is paper only).

    Notifications, /pause and /halt reach Polymarket US only; the international paper copier
    (no real money) runs without them."""
    cfg = settings.app.platforms.polymarket
    if not cfg.enabled:
        return EXIT_OK
    if cfg.venue == "us":
        return await run_polymarket_us(settings, root, stop=stop, mode=mode, clock=clock,
                                       live_confirmed=live_confirmed, notify=notify, pause_gate=pause_gate)
    if mode is not Mode.PAPER:
        return EXIT_LIVE_REFUSED
    from src.app.poly_daemon import run_polymarket_paper

    return await run_polymarket_paper(settings, root, stop=stop, clock=clock)


__all__ = [
    "BANNER",
    "PolymarketUsSetupError",
    "confirm_live",
    "load_us_key",
    "run_polymarket",
    "run_polymarket_us",
    "us_trade_log_dir",
]
