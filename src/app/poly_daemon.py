"""Polymarket paper trading's start-up: wire its own, isolated components around the whale-copy loop and run it.

Isolation (DECISIONS.md §5, §6): Polymarket paper trading never mixes with Kalshi's.
  database       data/polymarket_paper.db (src/db.polymarket_db_path), never data/paper.db
  kill switch    its own instance rooted at data/polymarket/ (its own kill_switch.lock and
                 KILL_SWITCH_EVENT.log), rebuilt from the Polymarket database only
  bankroll       USER_CONFIG.json starting_bankroll_usd + the Polymarket database's realised P&L
  trade log      logs/trades/polymarket/YYYY-MM-DD.jsonl
Shared with Kalshi: config.yaml's risk and sizing limits (each venue gets the same caps, counted
separately) and a Kalshi lock in the project root, which main.py checks before anything runs.

This is the INTERNATIONAL venue (platforms.polymarket.venue: international), paper only: orders
are filled by the PaperExecutor against the real Polymarket book (public `GET /book`, no auth);
no Polymarket order endpoint is ever called, and main.py refuses `--live` for this venue.
Polymarket US (the default venue; paper and live) starts in src/app/poly_us_daemon.py.

Fees: Polymarket charges takers fee = C x feeRate x p x (1 - p) (docs.polymarket.com/trading/fees);
makers pay nothing. feeRate depends on the market's category: 0 on geopolitics (and on many
older markets), 0.03 sports, 0.04 finance/politics/tech, 0.05 economics/culture/weather, 0.07
crypto. The paper executor cannot tell a market's category, so every paper fill pays the
HIGHEST rate, PAPER_TAKER_FEE_RATE = 0.07: paper P&L is never flattered, and on fee-free
markets it is pessimistic by up to 1.75 cents a share (at p = 0.5). The formula has the same
shape as Kalshi's, so src/model/fees.taker_fee applies it with this rate as its multiplier, rounded up
to the cent per fill (Polymarket rounds to 1e-5: again never in our favour). Sizing and the kill
switch count fees with Kalshi's 0.07 multiplier, the same figure, so what sizing plans is what
the fill pays. The strategy's edge uses the same rate. Polymarket takes a buy's fee in shares;
we book it in dollars at the fill price: equal in value at the fill, a little kinder to the copy
when it wins, a little harsher when it loses.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import cast

from src.app.poly_components import PolymarketSetupError, build_polymarket
from src.app.whale_loop import WhaleCopyLoop, WhaleLoopTiming
from src.config import Settings
from src.db import PolymarketDatabase, polymarket_db_path
from src.execution.paper import PaperExecutor
from src.execution.poly_settlement import PolySettler
from src.journal.trade_log import TradeLog
from src.model.exit_codes import EXIT_OK, EXIT_USAGE
from src.model.interfaces import MarketData
from src.model.models import Clock, Mode, OrderIntent, Signal, Sleep
from src.net.http_session import ConnectorFactory
from src.risk.kill_switch import KillSwitch, print_stderr, startup_lock_check
from src.risk.sizing import SizingLimits, intent_from_signal

log = logging.getLogger("polybot.poly_daemon")

PAPER_TAKER_FEE_RATE = Decimal("0.07")
REFRESH_WHALES_S = 3600.0
SETTLE_INTERVAL_S = 60.0
SETTLE_RETRY_S = 300.0
MODE_NAME = "polymarket_paper"


def polymarket_risk_root(root: Path) -> Path:
    """Where the Polymarket kill switch keeps its lock and event log (reset: see the lead's --reset-killswitch)."""
    return root / "data" / "polymarket"


def polymarket_trade_log_dir(root: Path) -> Path:
    return root / "logs" / "trades" / "polymarket"


def _nothing_rests() -> None:
    """The kill switch's cancel-all: paper orders fill or die on the spot, so nothing ever rests."""


async def run_polymarket_paper(
    settings: Settings,
    root: Path,
    *,
    stop: asyncio.Event,
    clock: Clock = time.time,
    clob_connector_factory: ConnectorFactory | None = None,
    data_connector_factory: ConnectorFactory | None = None,
    out: Callable[[str], None] = print,
    sleep: Sleep | None = None,
) -> int:
    """Run Polymarket whale-copy paper trading until `stop` is set; returns a process exit code.

    Disabled (platforms.polymarket.enabled false): returns 0 at once, having built and opened
    nothing. The connector factories let tests reach local fake servers (the allowlists still
    check the real host names); `sleep` replaces the stop-aware wait between passes in tests.
    """
    try:
        components = build_polymarket(
            settings,
            clock=clock,
            clob_connector_factory=clob_connector_factory,
            data_connector_factory=data_connector_factory,
            taker_fee_rate=PAPER_TAKER_FEE_RATE,
        )
    except PolymarketSetupError as exc:
        print_stderr(f"polymarket: {exc}")
        return EXIT_USAGE
    if components is None:
        return EXIT_OK
    db: PolymarketDatabase | None = None
    try:
        ks_root = polymarket_risk_root(root)
        code = startup_lock_check(ks_root)
        if code != EXIT_OK:
            return code
        app = settings.app
        starting = settings.user.starting_bankroll_usd
        db = PolymarketDatabase(polymarket_db_path(root))
        ks_root.mkdir(parents=True, exist_ok=True)
        kill_switch = KillSwitch(app.risk, starting, db, ks_root, mode=Mode.PAPER, clock=clock,
                                 cancel_all=_nothing_rests)
        if kill_switch.should_exit:
            return kill_switch.exit_code
        trade_log = TradeLog(polymarket_trade_log_dir(root), clock)
        client = components.client
        # The paper executor reads only get_orderbook(ticker), which the client serves with the
        # token id as ticker; it never sees an order method.
        executor = PaperExecutor(
            cast(MarketData, client), db, trade_log, clock, kill_switch.check_order_allowed,
            time_in_force=app.execution.time_in_force, fee_multiplier=PAPER_TAKER_FEE_RATE,
            on_order_submitted=lambda intent: kill_switch.record_order_submitted(intent.client_order_id),
        )
        interrupted = executor.fail_interrupted()
        if interrupted:
            log.warning("%d Polymarket paper order(s) interrupted by the last shutdown were marked failed",
                        interrupted)
        settler = PolySettler(client, db, trade_log, clock, starting, kill_switch.record_trade_result,
                              mode=MODE_NAME, retry_after_s=SETTLE_RETRY_S)
        limits = SizingLimits.from_config(app.sizing, app.risk)

        def size(signal: Signal, bankroll: Decimal, client_order_id: str) -> OrderIntent | None:
            return intent_from_signal(signal, bankroll, limits, client_order_id=client_order_id)

        loop = WhaleCopyLoop(
            client=client,
            tracker=components.tracker,
            strategy=components.strategy,
            size=size,
            gate=kill_switch,
            executor=executor,
            settler=settler,
            db=db,
            clock=clock,
            timing=WhaleLoopTiming(poll_interval_s=app.platforms.polymarket.whale.poll_interval_s,
                                   refresh_whales_s=REFRESH_WHALES_S, settle_interval_s=SETTLE_INTERVAL_S),
            sleep=sleep,
            out=out,
        )
        db.set_health({"mode": MODE_NAME, "started_ts": repr(clock()), "starting_bankroll": str(starting)}, clock())
        out(f"POLYMARKET PAPER MODE | whale copy | bankroll ${kill_switch.bankroll} | kill switch "
            f"{kill_switch.status().state.value} | {db.path.name} | no real Polymarket orders will be sent")
        return await loop.run(stop)
    finally:
        await components.close()
        if db is not None:
            db.checkpoint()
            db.close()
