"""Kill switch: every trigger below, at and above its threshold, in paper and live, across restarts."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from src.config import AppConfig, RiskConfig, load_settings
from src.db import Database, db_path_for
from src.model.exit_codes import EXIT_AUTH_HALT, EXIT_HARD_STOP, EXIT_OK
from src.model.models import Fill, Mode, OrderIntent, Side, TradeResult
from src.risk import kill_switch as ks_module
from src.risk import lockfile
from src.risk.kill_switch import (
    BLOCKERS_NAME,
    EVENT_LOG_NAME,
    KillSwitch,
    Reason,
    TradingState,
    startup_lock_check,
    worst_case_cost,
)
from src.risk.lockfile import LOCK_NAME, LockWriteError, read_lock, write_lock
from tests.conftest import ManualClock

D = Decimal
DAY = 86_400.0
HOUR = 3_600.0
SRC_RISK = Path(__file__).resolve().parent.parent / "src" / "risk"


class Rig:
    """One mode's database and project root, a manual clock, and everything the kill switch calls out to."""

    def __init__(self, root: Path, mode: Mode, clock: ManualClock) -> None:
        self.root = root
        self.mode = mode
        self.clock = clock
        settings = load_settings(root=root, env_path=root / "no.env")
        self.risk = settings.app.risk
        self.starting = settings.user.starting_bankroll_usd
        self.db = Database(db_path_for(root, mode))
        self.cancels = 0
        self.out: list[str] = []
        self._n = 0
        self.cancel_error: Exception | None = None

    def _cancel(self) -> None:
        self.cancels += 1
        if self.cancel_error is not None:
            raise self.cancel_error

    def make(self, starting: Decimal | None = None, risk: RiskConfig | None = None) -> KillSwitch:
        return KillSwitch(
            risk or self.risk,
            starting if starting is not None else self.starting,
            self.db,
            self.root,
            mode=self.mode,
            clock=self.clock,
            cancel_all=self._cancel,
            out=self.out.append,
        )

    def restart(self, starting: Decimal | None = None, risk: RiskConfig | None = None) -> KillSwitch:
        """A new process: fresh connection to the same file, fresh KillSwitch."""
        self.db.close()
        self.db = Database(db_path_for(self.root, self.mode))
        return self.make(starting, risk)

    def settle(
        self, ks: KillSwitch | None, pnl: Decimal, ts: float | None = None, opened_ago: float = 2 * HOUR
    ) -> None:
        """Book a settled trade in the database, then (if ks is given) tell the kill switch, as settlement does."""
        ts = self.clock() if ts is None else ts
        self._n += 1
        cid = f"settle-{self._n}"
        opened = ts - opened_ago
        intent = OrderIntent(f"KXBTC15M-T{self._n}", Side.YES, D("1"), D("0.50"), cid)
        self.db.insert_order_intent(intent, opened)
        fill = Fill(cid, intent.ticker, Side.YES, D("1"), D("0.50"), D("0.02"), opened, fill_id="f1")
        trade_id = self.db.record_execution(cid, opened, status="executed", venue_order_id=None, fills=[fill])
        assert trade_id is not None
        day = ks_module.utc_from_ts(ts).date().isoformat()
        ok = self.db.settle_trade(trade_id, ts, result="yes" if pnl > 0 else "no", payout=D("0"), pnl=pnl, day=day,
                                  bankroll_after=self.starting + pnl)
        assert ok
        if ks is not None:
            ks.record_trade_result(TradeResult(intent.ticker, pnl, ts))

    def kinds(self) -> list[str]:
        return [e.kind for e in self.db.kill_events()]


@pytest.fixture(params=[Mode.PAPER, Mode.LIVE], ids=["paper", "live"])
def rig(request: pytest.FixtureRequest, project_dir: Path, clock: ManualClock) -> Iterator[Rig]:
    r = Rig(project_dir, request.param, clock)
    yield r
    r.db.close()


def order(count: str = "1", price: str = "0.50", cid: str = "o-1") -> OrderIntent:
    return OrderIntent("KXBTC15M-TEST", Side.YES, D(count), D(price), cid)


def day_start(ts: float) -> float:
    return (ts // DAY) * DAY


def test_rig_uses_the_real_config(rig: Rig) -> None:
    assert rig.starting == D("100.00")
    assert rig.risk.max_single_trade_usd == D("5.00")
    assert rig.db.path.name == f"{rig.mode.value}.db"


# -- single trade cap: $5 or 5% of bankroll, the lower, fees included ------------------------------------------


@pytest.mark.parametrize(
    ("count", "price", "cost", "allowed"),
    [("6", "0.82", "4.99", True), ("17", "0.28", "5.00", True), ("7", "0.70", "5.01", False)],
    ids=["below", "at", "above"],
)
def test_dollar_cap(rig: Rig, count: str, price: str, cost: str, allowed: bool) -> None:
    ks = rig.make(starting=D("1000"))  # 5% would be $50, so the $5 cap applies
    o = order(count, price)
    assert worst_case_cost(o) == D(cost)
    verdict = ks.check_order_allowed(o)
    assert verdict.allowed is allowed
    assert verdict.reason == ("ok" if allowed else Reason.TRADE_TOO_LARGE)
    assert ks.state is TradingState.ACTIVE  # a refused order is not a state change
    assert rig.kinds() == []


@pytest.mark.parametrize(
    ("count", "price", "cost", "allowed"),
    [("5", "0.48", "2.49", True), ("3", "0.82", "2.50", True), ("4", "0.61", "2.51", False)],
    ids=["below", "at", "above"],
)
def test_percent_cap(rig: Rig, count: str, price: str, cost: str, allowed: bool) -> None:
    ks = rig.make(starting=D("50"))  # 5% of $50 = $2.50 < $5
    o = order(count, price)
    assert worst_case_cost(o) == D(cost)
    verdict = ks.check_order_allowed(o)
    assert (verdict.allowed, verdict.reason) == ((True, "ok") if allowed else (False, Reason.TRADE_TOO_LARGE))


def test_fees_count_towards_the_cap(rig: Rig) -> None:
    ks = rig.make()
    o = order("10", "0.50")
    assert o.max_cost == D("5.00")  # contracts alone are exactly at the cap...
    verdict = ks.check_order_allowed(o)  # ...but the $0.18 fee takes it over
    assert not verdict.allowed and verdict.reason == Reason.TRADE_TOO_LARGE
    assert "5.18" in verdict.detail


def test_percent_cap_follows_the_current_bankroll(rig: Rig) -> None:
    rig.settle(None, D("-20"), ts=rig.clock() - 3 * DAY)  # an old loss: bankroll $80, cap 5% = $4.00
    ks = rig.make()
    assert ks.bankroll == D("80.00")
    assert ks.check_order_allowed(order("6", "0.65")).allowed  # $4.00
    assert ks.check_order_allowed(order("5", "0.79")).reason == Reason.TRADE_TOO_LARGE  # $4.01


@pytest.mark.parametrize(
    ("count", "price"),
    [(D("0"), D("0.5")), (D("-1"), D("0.5")), (D("1.5"), D("0.5")), (D("1"), D("0")), (D("1"), D("1")),
     (D("1"), D("1.2")), (D("NaN"), D("0.5")), (D("1"), D("sNaN")), (1.0, D("0.5")), (D("1"), 0.5)],
)
def test_invalid_orders_are_refused(rig: Rig, count: Any, price: Any) -> None:
    ks = rig.make()
    verdict = ks.check_order_allowed(OrderIntent("T", Side.NO, count, price, "bad"))
    assert (verdict.allowed, verdict.reason) == (False, Reason.INVALID_ORDER)


# -- today's loss above 15% of the starting bankroll -------------------------------------------------------------


@pytest.mark.parametrize(("loss", "halted"), [("14.99", False), ("15.00", False), ("15.01", True)],
                         ids=["below", "at", "above"])
def test_daily_loss_threshold(rig: Rig, loss: str, halted: bool) -> None:
    rig.clock.now = day_start(rig.clock()) + 10 * HOUR
    ks = rig.make()
    rig.settle(ks, -D(loss))
    verdict = ks.check_order_allowed(order())
    assert verdict.allowed is not halted
    if halted:
        assert verdict.reason == Reason.DAILY_LOSS
        assert ks.state is TradingState.DAILY_HALTED
        assert "00:00 UTC" in verdict.detail
    # The same figure from the database alone (a restart) gives the same answer.
    ks2 = rig.restart()
    assert ks2.check_order_allowed(order()).allowed is not halted
    assert not ks2.should_exit


def test_daily_halt_ends_at_utc_midnight_and_survives_restart(rig: Rig) -> None:
    midnight = day_start(rig.clock()) + DAY
    rig.clock.now = midnight - 5 * HOUR
    ks = rig.make()
    rig.settle(ks, D("-15.01"))
    for _ in range(20):
        assert ks.check_order_allowed(order()).reason == Reason.DAILY_LOSS
    rig.clock.now = midnight - 1
    ks = rig.restart()
    assert ks.check_order_allowed(order()).reason == Reason.DAILY_LOSS
    assert ks.state is TradingState.DAILY_HALTED
    rig.clock.now = midnight
    assert ks.check_order_allowed(order()).allowed
    assert ks.state is TradingState.ACTIVE
    assert rig.kinds() == ["daily_halt", "daily_resume"]  # once each, not once per refused order
    assert rig.restart().check_order_allowed(order()).allowed


def test_yesterdays_loss_does_not_count_today(rig: Rig) -> None:
    midnight = day_start(rig.clock()) + DAY
    rig.clock.now = midnight - 1
    ks = rig.make()
    rig.settle(ks, D("-20"))
    assert ks.check_order_allowed(order()).reason == Reason.DAILY_LOSS
    rig.clock.now = midnight + 60
    assert ks.check_order_allowed(order()).allowed
    assert rig.restart().check_order_allowed(order()).allowed


def test_daily_loss_is_net_of_todays_wins(rig: Rig) -> None:
    rig.clock.now = day_start(rig.clock()) + 10 * HOUR
    ks = rig.make()
    rig.settle(ks, D("10"))
    rig.settle(ks, D("-25"))  # net -15.00: at the limit, not above
    assert ks.check_order_allowed(order()).allowed
    rig.settle(ks, D("-0.01"))
    assert ks.check_order_allowed(order()).reason == Reason.DAILY_LOSS


# -- 5 consecutive losses: 2 hours cooling, then automatic resume --------------------------------------------------


@pytest.mark.parametrize(("losses", "cooling"), [(4, False), (5, True), (6, True)], ids=["below", "at", "above"])
def test_consecutive_losses_threshold(rig: Rig, losses: int, cooling: bool) -> None:
    ks = rig.make()
    for _ in range(losses):
        rig.settle(ks, D("-0.10"))
    verdict = ks.check_order_allowed(order())
    assert verdict.allowed is not cooling
    if cooling:
        assert verdict.reason == Reason.COOLING
        assert ks.state is TradingState.COOLING
    assert rig.restart().check_order_allowed(order()).allowed is not cooling


def test_a_win_resets_the_streak_and_a_zero_neither_counts_nor_resets(rig: Rig) -> None:
    ks = rig.make()
    for _ in range(4):
        rig.settle(ks, D("-0.10"))
    rig.settle(ks, D("0.05"))  # win: streak 0
    for _ in range(4):
        rig.settle(ks, D("-0.10"))
    rig.settle(ks, D("0"))  # zero: streak stays at 4
    assert ks.check_order_allowed(order()).allowed
    assert ks.status().loss_streak == 4
    assert rig.restart().status().loss_streak == 4
    rig.settle(ks, D("-0.10"))  # the 5th loss in a row (the zero in between does not break it)
    assert ks.check_order_allowed(order()).reason == Reason.COOLING


def test_cooling_ends_after_exactly_two_hours(rig: Rig) -> None:
    ks = rig.make()
    for _ in range(5):
        rig.settle(ks, D("-0.10"))
    start = rig.clock()
    rig.clock.now = start + 2 * HOUR - 0.001
    assert ks.check_order_allowed(order()).reason == Reason.COOLING
    assert ks.status().cooling_until == start + 2 * HOUR
    rig.clock.now = start + 2 * HOUR
    assert ks.check_order_allowed(order()).allowed
    assert ks.state is TradingState.ACTIVE
    assert rig.kinds() == ["cooling_start", "cooling_end"]


def test_cooling_survives_restart_with_the_same_end_time(rig: Rig) -> None:
    ks = rig.make()
    for _ in range(5):
        rig.settle(ks, D("-0.10"))
    start = rig.clock()
    rig.clock.now = start + HOUR
    ks = rig.restart()
    assert ks.check_order_allowed(order()).reason == Reason.COOLING
    rig.clock.now = start + 2 * HOUR - 0.001
    assert rig.restart().check_order_allowed(order()).reason == Reason.COOLING
    rig.clock.now = start + 2 * HOUR
    ks = rig.restart()
    assert ks.check_order_allowed(order()).allowed
    assert rig.kinds() == ["cooling_start", "cooling_end"]  # restarts did not restart the cooling


def test_the_next_cooling_needs_another_full_streak(rig: Rig) -> None:
    ks = rig.make()
    for _ in range(5):
        rig.settle(ks, D("-0.10"))
    rig.clock.advance(2 * HOUR)
    for _ in range(4):  # losses 6..9: no new cooling, even across a restart
        rig.settle(ks, D("-0.10"))
        assert ks.check_order_allowed(order()).allowed
    assert rig.restart().check_order_allowed(order()).allowed
    rig.settle(ks, D("-0.10"))  # the 10th
    assert ks.check_order_allowed(order()).reason == Reason.COOLING
    assert rig.restart().check_order_allowed(order()).reason == Reason.COOLING


def test_a_loss_during_cooling_that_completes_a_streak_restarts_it_durably(rig: Rig) -> None:
    ks = rig.make()
    for _ in range(5):
        rig.settle(ks, D("-0.10"))
    first_start = rig.clock()
    rig.clock.advance(60)
    for _ in range(5):  # trades opened before the cooling settle during it
        rig.settle(ks, D("-0.10"))
    restart_at = rig.clock()
    rig.clock.now = first_start + 2 * HOUR + 1
    assert ks.check_order_allowed(order()).reason == Reason.COOLING
    assert rig.restart().check_order_allowed(order()).reason == Reason.COOLING
    rig.clock.now = restart_at + 2 * HOUR
    assert rig.restart().check_order_allowed(order()).allowed


def test_a_streak_settled_while_the_process_was_down_starts_cooling_at_startup(rig: Rig) -> None:
    for _ in range(5):
        rig.settle(None, D("-0.10"), ts=rig.clock() - 3 * HOUR)  # in the database, hook never ran
    ks = rig.make()
    assert ks.check_order_allowed(order()).reason == Reason.COOLING
    start = rig.clock()
    rig.clock.now = start + 2 * HOUR - 1
    assert rig.restart().check_order_allowed(order()).reason == Reason.COOLING
    rig.clock.now = start + 2 * HOUR
    assert rig.restart().check_order_allowed(order()).allowed


def test_refused_orders_do_not_spam_events(rig: Rig) -> None:
    ks = rig.make()
    for _ in range(5):
        rig.settle(ks, D("-0.10"))
    for _ in range(100):
        assert not ks.check_order_allowed(order()).allowed
        ks.refresh()
    assert rig.kinds() == ["cooling_start"]
    event = rig.db.kill_events()[0]
    assert event.reason == Reason.COOLING
    assert event.detail["until"] == rig.clock() + 2 * HOUR
    assert event.detail["mode"] == rig.mode.value


# -- more than 15 orders in the sliding hour ----------------------------------------------------------------------


@pytest.mark.parametrize(("submitted", "allowed"), [(14, True), (15, False)], ids=["below", "at-limit"])
def test_hourly_threshold(rig: Rig, submitted: int, allowed: bool) -> None:
    ks = rig.make()
    for i in range(submitted):
        assert ks.check_order_allowed(order(cid=f"o{i}")).allowed
        ks.record_order_submitted(f"o{i}")
        rig.clock.advance(60)
    verdict = ks.check_order_allowed(order(cid="next"))  # the 15th order is allowed, the 16th is not
    assert verdict.allowed is allowed
    if not allowed:
        assert verdict.reason == Reason.RATE_LIMIT
        assert ks.state is TradingState.RATE_PAUSED


def test_hourly_window_slides(rig: Rig) -> None:
    ks = rig.make()
    t0 = rig.clock()
    for i in range(15):
        rig.clock.now = t0 + i * 60
        ks.record_order_submitted(f"o{i}")
    rig.clock.now = t0 + HOUR - 0.001
    assert ks.check_order_allowed(order()).reason == Reason.RATE_LIMIT
    rig.clock.now = t0 + HOUR  # the first order leaves the window: room for exactly one
    assert ks.check_order_allowed(order()).allowed
    ks.record_order_submitted("o15")
    assert ks.check_order_allowed(order()).reason == Reason.RATE_LIMIT
    rig.clock.now = t0 + 60 + HOUR
    assert ks.check_order_allowed(order()).allowed
    assert rig.kinds() == ["rate_pause", "rate_resume", "rate_pause", "rate_resume"]


def test_a_retried_submission_counts_once(rig: Rig) -> None:
    ks = rig.make()
    for _ in range(20):
        ks.record_order_submitted("same")
    assert ks.status().orders_last_hour == 1


def test_hourly_count_survives_restart(rig: Rig) -> None:
    now = rig.clock()
    rig.db.insert_order_intent(order(cid="old"), now - HOUR)  # exactly an hour old: outside the window
    rig.db.insert_order_intent(order(cid="refused"), now - 10, status="refused")  # never sent
    for i in range(14):
        rig.db.insert_order_intent(order(cid=f"o{i}"), now - HOUR + 1 + i)
    ks = rig.make()
    assert ks.status().orders_last_hour == 14
    assert ks.check_order_allowed(order()).allowed
    rig.db.insert_order_intent(order(cid="o14"), now)
    ks = rig.restart()
    assert ks.check_order_allowed(order()).reason == Reason.RATE_LIMIT
    rig.clock.now = now + 1  # o0 (created at now - HOUR + 1) leaves the window
    assert ks.check_order_allowed(order()).allowed


# -- 3 consecutive auth failures ------------------------------------------------------------------------------


@pytest.mark.parametrize(("failures", "halted"), [(2, False), (3, True), (4, True)], ids=["below", "at", "above"])
def test_auth_failure_threshold(rig: Rig, failures: int, halted: bool) -> None:
    ks = rig.make()
    for _ in range(failures):
        ks.record_auth_failure("header_timestamp_expired")
    verdict = ks.check_order_allowed(order())
    assert verdict.allowed is not halted
    assert ks.should_exit is halted
    assert ks.exit_code == (EXIT_AUTH_HALT if halted else EXIT_OK)
    assert (rig.root / BLOCKERS_NAME).exists() is halted
    if halted:
        assert verdict.reason == Reason.AUTH_HALT
        assert ks.state is TradingState.HALTED
    assert rig.db.consecutive_auth_failures() == failures
    ks2 = rig.restart()
    assert ks2.check_order_allowed(order()).allowed is not halted


def test_blockers_md_says_what_failed_and_how_to_fix_it(rig: Rig) -> None:
    ks = rig.make()
    for code in ("INCORRECT_API_KEY_SIGNATURE", "header_timestamp_expired", "header_timestamp_expired"):
        ks.record_auth_failure(code)
    text = (rig.root / BLOCKERS_NAME).read_text()
    assert "INCORRECT_API_KEY_SIGNATURE" in text and "header_timestamp_expired" in text
    assert text.index("Clock skew") < text.index("Wrong key id")  # the observed cause's fix comes first
    assert "Wrong environment" in text and "kalshi.env" in text
    assert "--verify" in text
    assert any("BLOCKERS.md" in line for line in rig.out)
    log = (rig.root / EVENT_LOG_NAME).read_text()
    assert "AUTH_HALT" in log


def test_auth_halt_survives_restart_and_clears_on_success(rig: Rig) -> None:
    ks = rig.make()
    for _ in range(3):
        ks.record_auth_failure("INCORRECT_API_KEY_SIGNATURE")
    assert ks.should_exit
    ks = rig.restart()
    assert ks.check_order_allowed(order()).reason == Reason.AUTH_HALT
    assert not ks.should_exit  # a restarted process may try one authenticated request to prove the fix
    ks.record_auth_success()
    assert ks.check_order_allowed(order()).allowed
    assert not (rig.root / BLOCKERS_NAME).exists()
    assert rig.kinds() == ["auth_halt", "auth_resume"]
    assert rig.restart().check_order_allowed(order()).allowed


def test_other_blockers_in_blockers_md_are_kept(rig: Rig) -> None:
    other = "# BLOCKER: something else the owner must do\n"
    (rig.root / BLOCKERS_NAME).write_text(other)
    ks = rig.make()
    for _ in range(4):
        ks.record_auth_failure("INCORRECT_API_KEY_SIGNATURE")
    text = (rig.root / BLOCKERS_NAME).read_text()
    assert text.count("Kalshi authentication keeps failing") == 1 and other in text
    ks.record_auth_success()
    assert (rig.root / BLOCKERS_NAME).read_text() == other


def test_a_failed_retry_after_restart_halts_and_exits_again(rig: Rig) -> None:
    ks = rig.make()
    for _ in range(3):
        ks.record_auth_failure("INCORRECT_API_KEY_SIGNATURE")
    ks = rig.restart()
    ks.record_auth_failure("INCORRECT_API_KEY_SIGNATURE")
    assert ks.should_exit and ks.exit_code == EXIT_AUTH_HALT


def test_auth_failure_count_survives_restarts(rig: Rig) -> None:
    rig.make().record_auth_failure("INCORRECT_API_KEY_SIGNATURE")
    rig.restart().record_auth_failure("INCORRECT_API_KEY_SIGNATURE")
    ks = rig.restart()
    assert ks.check_order_allowed(order()).allowed
    ks.record_auth_failure("header_timestamp_expired")  # third in a row, across two restarts
    assert ks.check_order_allowed(order()).reason == Reason.AUTH_HALT
    assert ks.should_exit


def test_a_success_between_failures_resets_the_count(rig: Rig) -> None:
    ks = rig.make()
    ks.record_auth_failure("x")
    ks.record_auth_failure("x")
    ks.record_auth_success()
    ks.record_auth_failure("x")
    ks.record_auth_failure("x")
    assert ks.check_order_allowed(order()).allowed
    assert rig.restart().check_order_allowed(order()).allowed


def test_auth_codes_are_sanitised(rig: Rig) -> None:
    ks = rig.make()
    ks.record_auth_failure("bad\ncode <script>" + "x" * 200)
    code = rig.db.recent_auth_events(1)[0].code
    assert "\n" not in code and "<" not in code and len(code) <= 80


# -- total loss above 30% of the starting bankroll: HARD STOP ------------------------------------------------------


def _old_losses(rig: Rig, amounts: list[str]) -> None:
    """Losses on earlier days (each under the daily limit, streak under 5) so only the total matters."""
    for i, amount in enumerate(amounts):
        rig.settle(None, -D(amount), ts=rig.clock() - (len(amounts) - i) * DAY)


@pytest.mark.parametrize(("last", "stopped"), [("9.99", False), ("10.00", False), ("10.01", True)],
                         ids=["below", "at", "above"])
def test_total_loss_threshold_from_the_database(rig: Rig, last: str, stopped: bool) -> None:
    _old_losses(rig, ["10", "10", last])  # total 29.99 / 30.00 / 30.01
    ks = rig.make()
    assert ks.hard_stopped is stopped
    verdict = ks.check_order_allowed(order())
    assert verdict.allowed is not stopped
    if stopped:
        assert verdict.reason == Reason.TOTAL_LOSS
        assert ks.exit_code == EXIT_HARD_STOP


def test_total_loss_hard_stop_from_a_settled_trade(rig: Rig) -> None:
    _old_losses(rig, ["10", "10", "10"])
    ks = rig.make()
    assert ks.check_order_allowed(order()).allowed
    rig.settle(ks, D("-0.01"))
    verdict = ks.check_order_allowed(order())
    assert (verdict.allowed, verdict.reason) == (False, Reason.TOTAL_LOSS)
    assert ks.state is TradingState.HARD_STOPPED and ks.should_exit and ks.exit_code == EXIT_HARD_STOP
    lock = read_lock(rig.root)
    assert lock is not None and lock.data is not None
    assert lock.data["reason"] == "total_loss"
    assert lock.data["figures"]["loss_since_reset"] == "30.01"
    assert lock.data["figures"]["mode"] == rig.mode.value
    # A later win changes nothing: a hard stop only ends by a manual reset.
    rig.settle(ks, D("50"))
    assert ks.check_order_allowed(order()).reason == Reason.TOTAL_LOSS


# -- bankroll below $20: HARD STOP ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("last", "stopped"), [("0.00", False), ("0.01", True)], ids=["at", "above"])
def test_bankroll_floor_threshold(rig: Rig, last: str, stopped: bool) -> None:
    # Starting $25: floor at $20 is hit (loss > $5) before the 30% total loss ($7.50).
    _old_losses(rig, ["2.50", "2.49"])
    ks = rig.make(starting=D("25"))
    assert ks.bankroll == D("20.01")
    assert ks.check_order_allowed(order("1", "0.50")).allowed  # below: $20.01
    rig.settle(ks, D("-0.01"))  # at: $20.00
    assert ks.check_order_allowed(order("1", "0.50")).allowed
    if last != "0.00":
        rig.settle(ks, -D(last))  # above: $19.99
    assert ks.hard_stopped is stopped
    if stopped:
        assert ks.check_order_allowed(order()).reason == Reason.BANKROLL_FLOOR
        assert ks.exit_code == EXIT_HARD_STOP
        assert rig.restart(starting=D("25")).hard_stopped


def test_starting_below_the_floor_stops_at_once(rig: Rig) -> None:
    ks = rig.make(starting=D("19.99"))
    assert ks.hard_stopped
    assert ks.check_order_allowed(order()).reason == Reason.BANKROLL_FLOOR
    assert rig.cancels == 1


# -- what a hard stop does ------------------------------------------------------------------------------------------


def test_hard_stop_actions(rig: Rig) -> None:
    _old_losses(rig, ["10", "10", "10"])
    ks = rig.make()
    rig.clock.advance(1)
    rig.settle(ks, D("-0.01"))
    assert rig.cancels == 1
    lock = json.loads((rig.root / LOCK_NAME).read_text())
    assert lock["reason"] == "total_loss" and lock["ts"] == rig.clock()
    assert lock["at"].endswith("+00:00")
    assert lock["reset"] == "python main.py --reset-killswitch"
    assert lock["figures"]["bankroll"] == "69.99"
    assert lock["figures"]["limits"]["total_loss_usd"] == "30.0000"
    log = [json.loads(line) for line in (rig.root / EVENT_LOG_NAME).read_text().splitlines()]
    assert [e["event"] for e in log] == ["HARD_STOP"]
    events = rig.db.kill_events()
    assert [(e.kind, e.reason) for e in events] == [("hard_stop", "total_loss")]
    message = "\n".join(rig.out)
    assert "HARD STOP" in message and "--reset-killswitch" in message and "RESET" in message
    # Everything afterwards is refused, and nothing is repeated.
    for i in range(10):
        assert ks.check_order_allowed(order(cid=f"x{i}")).reason == Reason.TOTAL_LOSS
    rig.settle(ks, D("-1"))
    assert rig.cancels == 1 and len(rig.db.kill_events()) == 1


def test_a_failing_cancel_does_not_skip_the_rest_of_the_stop(rig: Rig) -> None:
    rig.cancel_error = RuntimeError("venue down")
    _old_losses(rig, ["10", "10", "10.01"])
    ks = rig.make()
    assert ks.hard_stopped and ks.should_exit
    assert (rig.root / LOCK_NAME).exists()
    assert rig.db.kill_events()[0].kind == "hard_stop"
    assert "cancel_all FAILED" in "\n".join(rig.out)


def test_a_failing_lock_write_still_stops(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(root: Path, payload: dict[str, Any]) -> Path:
        raise LockWriteError("disk full")

    monkeypatch.setattr(ks_module, "write_lock", broken)
    _old_losses(rig, ["10", "10", "10.01"])
    ks = rig.make()
    assert ks.hard_stopped and ks.should_exit and rig.cancels == 1
    assert not ks.check_order_allowed(order()).allowed
    assert "disk full" in json.dumps(rig.db.kill_events()[0].detail)
    # No lock on disk, but the database figures stop the next start again.
    monkeypatch.undo()
    assert rig.restart().hard_stopped
    assert (rig.root / LOCK_NAME).exists()


def test_deleting_the_lock_by_hand_does_not_bypass_a_hard_stop(rig: Rig) -> None:
    _old_losses(rig, ["10", "10", "10.01"])
    assert rig.make().hard_stopped
    (rig.root / LOCK_NAME).unlink()  # not --reset-killswitch
    ks = rig.restart()
    assert ks.hard_stopped
    assert ks.check_order_allowed(order()).reason == Reason.TOTAL_LOSS
    assert (rig.root / LOCK_NAME).exists()


# -- kill_switch.lock ---------------------------------------------------------------------------------------------


def test_startup_lock_check(rig: Rig) -> None:
    out: list[str] = []
    assert startup_lock_check(rig.root, out=out.append) == EXIT_OK and out == []
    write_lock(rig.root, {"reason": "total_loss", "at": "2026-01-01T00:00:00+00:00", "message": "lost"})
    assert startup_lock_check(rig.root, out=out.append) == EXIT_HARD_STOP
    assert "REFUSING TO START" in out[0] and "--reset-killswitch" in out[0] and "total_loss" in out[0]
    (rig.root / LOCK_NAME).write_text("{not json")  # a damaged lock still counts
    assert startup_lock_check(rig.root, out=out.append) == EXIT_HARD_STOP


TIGHTER = [
    RiskConfig(),
    RiskConfig(max_single_trade_usd=D("1"), max_trade_pct_bankroll=D("0.01"), daily_loss_pct=D("0.05"),
               max_consecutive_losses=2, cooling_hours=D("24"), max_trades_per_hour=1, max_auth_failures=1,
               total_loss_pct=D("0.10"), min_bankroll_usd=D("50")),
]


@pytest.mark.parametrize("risk", TIGHTER, ids=["default", "tightest"])
@pytest.mark.parametrize("starting", [D("100"), D("100000")])
def test_any_config_refuses_while_the_lock_exists(rig: Rig, risk: RiskConfig, starting: Decimal) -> None:
    write_lock(rig.root, {"reason": "total_loss", "message": "from an earlier run"})
    before = (rig.root / LOCK_NAME).read_text()
    ks = rig.make(starting=starting, risk=risk)
    verdict = ks.check_order_allowed(order("1", "0.05"))
    assert (verdict.allowed, verdict.reason) == (False, Reason.LOCK_PRESENT)
    assert ks.hard_stopped and ks.should_exit and ks.exit_code == EXIT_HARD_STOP
    assert (rig.root / LOCK_NAME).read_text() == before  # the original reason is kept
    assert rig.restart(starting=starting, risk=risk).check_order_allowed(order()).reason == Reason.LOCK_PRESENT


def test_a_looser_config_is_refused_everywhere(rig: Rig) -> None:
    with pytest.raises(ValidationError, match="looser than the code allows"):
        AppConfig.model_validate({"risk": {"max_single_trade_usd": "10"}})
    # A RiskConfig built around config.py's validation is refused by the kill switch itself.
    for loose in (RiskConfig(max_single_trade_usd=D("10")), RiskConfig(cooling_hours=D("1")),
                  RiskConfig(min_bankroll_usd=D("0")), RiskConfig(max_trades_per_hour=100)):
        with pytest.raises(ValueError, match="looser than the code allows"):
            rig.make(risk=loose)


def test_a_lock_appearing_while_running_stops_trading(rig: Rig) -> None:
    ks = rig.make()
    assert ks.check_order_allowed(order()).allowed
    write_lock(rig.root, {"reason": "total_loss", "message": "another process stopped"})
    assert ks.check_order_allowed(order()).reason == Reason.LOCK_PRESENT
    assert rig.cancels == 1
    (rig.root / LOCK_NAME).unlink()
    assert ks.check_order_allowed(order()).reason == Reason.LOCK_PRESENT  # sticky until restart


def test_nothing_the_loop_can_call_lifts_a_hard_stop(rig: Rig) -> None:
    """Every hook a trading loop has, called the way a buggy or hurried loop might, leaves the stop on."""
    _old_losses(rig, ["10", "10", "10.01"])
    ks = rig.make()
    assert ks.hard_stopped
    ks.record_auth_success()
    ks.record_order_submitted("o-1")
    ks.record_trade_result(TradeResult("KXBTC15M-TEST", D("500"), rig.clock()))  # a huge win
    rig.clock.advance(3 * DAY)  # past midnight, cooling, the sliding hour
    assert ks.refresh() is TradingState.HARD_STOPPED and ks.status().state is TradingState.HARD_STOPPED
    for tiny_or_big in (order("1", "0.01", "o-2"), order("1000", "0.99", "o-3")):
        assert ks.check_order_allowed(tiny_or_big).reason == Reason.TOTAL_LOSS


def test_bad_starting_bankroll_is_refused(rig: Rig) -> None:
    for bad in (D("0"), D("-5"), D("NaN"), 100.0):
        with pytest.raises(ValueError, match="starting bankroll"):
            rig.make(starting=bad)  # type: ignore[arg-type]


def test_trade_result_needs_decimal_pnl(rig: Rig) -> None:
    ks = rig.make()
    with pytest.raises(TypeError):
        ks.record_trade_result(TradeResult("T", -1.5, rig.clock()))  # type: ignore[arg-type]


# -- atomic lock write ----------------------------------------------------------------------------------------------


def test_lock_write_is_temp_fsync_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real_fsync, real_replace, real_write = os.fsync, os.replace, os.write

    def fsync(fd: int) -> None:
        calls.append("fsync")
        real_fsync(fd)

    def replace(src: Any, dst: Any) -> None:
        assert not Path(dst).exists()
        assert json.loads(Path(src).read_text())["reason"] == "total_loss"  # complete before the rename
        calls.append("replace")
        real_replace(src, dst)

    def write(fd: int, data: Any) -> int:
        calls.append("write")
        return real_write(fd, data)

    monkeypatch.setattr(lockfile.os, "fsync", fsync)
    monkeypatch.setattr(lockfile.os, "replace", replace)
    monkeypatch.setattr(lockfile.os, "write", write)
    write_lock(tmp_path, {"reason": "total_loss", "figures": {"bankroll": "69.99"}})
    assert calls[:3] == ["write", "fsync", "replace"]
    assert json.loads((tmp_path / LOCK_NAME).read_text())["figures"]["bankroll"] == "69.99"
    assert sorted(p.name for p in tmp_path.iterdir()) == [LOCK_NAME]


@pytest.mark.parametrize("fail_at", ["write", "fsync", "replace"])
def test_a_failed_lock_write_leaves_no_partial_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_at: str
) -> None:
    real_write = os.write

    def half_write(fd: int, data: Any) -> int:
        real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(28, "No space left on device")

    def fail(*args: Any) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(lockfile.os, fail_at, half_write if fail_at == "write" else fail)
    with pytest.raises(LockWriteError):
        write_lock(tmp_path, {"reason": "total_loss", "padding": "x" * 10_000})
    assert list(tmp_path.iterdir()) == []  # no lock, no temp file


def test_a_failed_overwrite_keeps_the_old_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_lock(tmp_path, {"reason": "first"})

    def fail(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(lockfile.os, "fsync", fail)
    with pytest.raises(LockWriteError):
        write_lock(tmp_path, {"reason": "second"})
    info = read_lock(tmp_path)
    assert info is not None and info.data == {"reason": "first"}
    assert [p.name for p in tmp_path.iterdir()] == [LOCK_NAME]


def test_an_unserialisable_payload_touches_nothing(tmp_path: Path) -> None:
    class Boom:
        def __str__(self) -> str:
            raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        write_lock(tmp_path, {"x": Boom()})
    assert list(tmp_path.iterdir()) == []


# -- status, and the synchronous-only rule --------------------------------------------------------------------------


def test_status_snapshot(rig: Rig) -> None:
    rig.clock.now = day_start(rig.clock()) + 10 * HOUR
    ks = rig.make()
    rig.settle(ks, D("-1.25"))
    ks.record_order_submitted("a")
    status = ks.status()
    assert status.state is TradingState.ACTIVE and status.reason == "ok"
    assert status.mode is rig.mode
    assert (status.bankroll, status.today_pnl, status.loss_streak) == (D("98.75"), D("-1.25"), 1)
    assert status.orders_last_hour == 1 and status.cooling_until is None and not status.should_exit
