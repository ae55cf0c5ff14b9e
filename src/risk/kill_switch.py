"""The kill switch: the persisted gate every order must pass, enforcing every hard stop in the design.

Synchronous by design (ARCHITECTURE.md §1): nothing here awaits. State lives in memory so a check
never reads the database; it is rebuilt from the database at construction so a restart bypasses
nothing (DECISIONS.md §5), and every change of state is written as a kill_switch_events row.

Decisions a careful trader would ask about:
- Per-trade cap: the order's worst case, every contract at the limit price PLUS the taker fee,
  must not exceed min(max_single_trade_usd, max_trade_pct_bankroll x current bankroll).
- "Today" is the UTC calendar day of each trade's settlement; a daily halt ends at 00:00 UTC.
- A loss is a settled trade with P&L < 0 after fees; a win (P&L > 0) ends the streak; P&L == 0
  neither counts nor ends it. Every max_consecutive_losses-th loss of a streak (5th, 10th, ...)
  starts a cooling of cooling_hours from the moment the kill switch learns of it.
- The hourly limit counts orders SUBMITTED (filled or not) in the sliding last hour: the 16th
  order inside any 3600 s is refused; room appears when the oldest is 3600 s old.
- Auth: max_auth_failures consecutive failures halt trading, write BLOCKERS.md and ask the main
  loop to exit (code 4). On a restart the halt is rebuilt but the process is not asked to exit,
  so a first signed request can prove the fix; its success clears the halt, a failure exits again.
- Total loss counts the P&L settled since the last --reset-killswitch (all of it if never reset),
  so a reset lets a human allow trading again; the bankroll floor always counts everything.
- A hard stop (total loss, bankroll floor, or kill_switch.lock seen on disk) is sticky for the
  life of the process: only --reset-killswitch followed by a restart clears it.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from src.config import RiskConfig
from src.db import Database
from src.model.exit_codes import EXIT_AUTH_HALT, EXIT_HARD_STOP, EXIT_OK
from src.model.models import (
    SECONDS_PER_DAY,
    ZERO,
    Clock,
    Mode,
    OrderIntent,
    TradeResult,
    Verdict,
    utc_day_number,
    utc_from_ts,
)
from src.risk.blockers import BLOCKERS_NAME, blockers_text, remove_auth_section, write_auth_section
from src.risk.limits import LIMITS
from src.risk.lockfile import LockWriteError, append_line, lock_path, read_lock, write_lock
from src.risk.protections import (
    ALLOWED,
    RATE_WINDOW_S,
    CoolingRule,
    OrderRule,
    Reason,
    RiskState,
    Thresholds,
    TradingState,
    default_order_rules,
    default_state_rules,
    worst_case_cost,
)
from src.risk.stop_messages import (
    EVENT_LOG_NAME,
    RESET_COMMAND,
    Output,
    auth_halt_message,
    hard_stop_message,
    locked_start_message,
    print_stderr,
    reset_instructions,
)

__all__ = [
    "EVENT_LOG_NAME",
    "BLOCKERS_NAME",
    "KillSwitch",
    "KillSwitchEvent",
    "KillSwitchStatus",
    "Reason",
    "TradingState",
    "reset_instructions",
    "print_stderr",
    "startup_lock_check",
    "worst_case_cost",
]

logger = logging.getLogger(__name__)

# Orders stored with one of these statuses were never sent, so they do not count towards the hour.
UNSUBMITTED_ORDER_STATUSES = ("refused",)
# How far back a losing streak is rebuilt; a streak this long would have hard-stopped long before.
STREAK_LOOKBACK = 10_000
_CODE_CHARS = re.compile(r"[^A-Za-z0-9_.:\-]")

@dataclass(frozen=True, slots=True)
class KillSwitchEvent:
    """A change of state as recorded in kill_switch_events, handed to an observer (notifications)."""

    ts: float
    kind: str  # cooling_start, daily_halt, rate_pause, auth_halt, hard_stop, ... and their *_end/*_resume
    reason: str
    message: str
    detail: dict[str, Any]
    last_auth_code: str = ""


@dataclass(frozen=True, slots=True)
class KillSwitchStatus:
    """A snapshot for the startup banner, the dashboard health row and --report."""

    state: TradingState
    reason: str  # "ok" or the reason code of the refusal an order would get now
    detail: str
    mode: Mode
    starting_bankroll: Decimal
    bankroll: Decimal
    today_pnl: Decimal
    loss_since_reset: Decimal
    loss_streak: int
    cooling_until: float | None
    orders_last_hour: int
    auth_failures: int
    should_exit: bool
    exit_code: int


class KillSwitch:
    """Every hard stop in the design. Call check_order_allowed() immediately before any order action."""

    def __init__(
        self,
        risk: RiskConfig,
        starting_bankroll: Decimal,
        db: Database,
        root: Path,
        *,
        mode: Mode,
        clock: Clock,
        cancel_all: Callable[[], object],
        out: Output = print_stderr,
        on_event: Callable[[KillSwitchEvent], None] | None = None,
        run_label: str | None = None,
    ) -> None:
        _refuse_looser_than_code(risk)
        self._on_event = on_event  # set before _rebuild, which records the state found at start-up
        if not isinstance(starting_bankroll, Decimal) or not starting_bankroll.is_finite() or starting_bankroll <= 0:
            raise ValueError(f"starting bankroll must be a positive Decimal, got {starting_bankroll!r}")
        self._th = Thresholds.from_config(risk, starting_bankroll)
        self._db = db
        self._root = root
        self._mode = mode
        # What the event records and the event log call this run: the mode, unless the caller
        # names it (a backtest runs the sim machinery but is not --sim).
        self._run_label = run_label or mode.value
        self._clock = clock
        self._cancel_all = cancel_all
        self._out = out
        self._lock_file = lock_path(root)
        self._hard_rules, self._soft_rules = default_state_rules(self._lock_file)
        self._order_rules: tuple[OrderRule, ...] = default_order_rules()
        self._cooling_index = next(i for i, r in enumerate(self._soft_rules) if isinstance(r, CoolingRule))
        self._s = RiskState(starting_bankroll=starting_bankroll)
        self._s.refresh_money(self._th)
        self._soft_active: list[bool] = [False] * len(self._soft_rules)
        self._auth_codes: deque[tuple[float, str]] = deque(maxlen=10)
        self._should_exit = False
        self._auth_exit = False
        now = clock()
        self._rebuild(now)
        self._evaluate(now)

    # -- the gate -----------------------------------------------------------------------------

    def check_order_allowed(self, order: OrderIntent) -> Verdict:
        """Allowed, or refused with a reason code. No database reads; state changes are recorded."""
        now = self._clock()
        refusal = self._evaluate(now)
        if refusal is not None:
            return refusal
        s, th = self._s, self._th
        for rule in self._order_rules:
            refusal = rule.check(s, th, order)
            if refusal is not None:
                return refusal
        return ALLOWED

    # -- hooks --------------------------------------------------------------------------------

    def record_order_submitted(self, client_order_id: str = "") -> None:
        """Count an order sent to the venue (or the paper executor) towards the sliding hour.

        A repeat of the same client_order_id (a retried submission) counts once.
        """
        now = self._clock()
        s = self._s
        s.prune_orders(now)
        if client_order_id and client_order_id in s.order_ids:
            return
        s.orders.append((now, client_order_id))
        if client_order_id:
            s.order_ids.add(client_order_id)
        self._evaluate(now)

    def record_trade_result(self, result: TradeResult) -> None:
        """A trade has settled (and is already in the database): update P&L, streak and stops."""
        pnl = result.pnl
        if not isinstance(pnl, Decimal) or not pnl.is_finite():
            raise TypeError(f"trade P&L must be a finite Decimal, got {pnl!r}")
        now = self._clock()
        s = self._s
        s.realized_pnl += pnl
        s.refresh_money(self._th)
        if s.reset_ts is None or result.settled_ts >= s.reset_ts:
            s.loss_since_reset -= pnl
        day = utc_day_number(result.settled_ts)
        s.daily_pnl[day] = s.daily_pnl.get(day, ZERO) + pnl
        for old in [d for d in s.daily_pnl if d < utc_day_number(now) - 1]:
            del s.daily_pnl[old]
        if pnl < 0:
            s.loss_streak += 1
            if s.loss_streak % self._th.max_consecutive_losses == 0:
                self._start_cooling(now, result.settled_ts)
        elif pnl > 0:
            s.loss_streak = 0
        self._evaluate(now)

    def record_auth_failure(self, code: str) -> None:
        """An authenticated request was refused (401/403, INCORRECT_API_KEY_SIGNATURE, header_timestamp_expired...)."""
        now = self._clock()
        clean = _clean_code(code)
        try:
            self._db.record_auth_event(now, False, clean)
        except sqlite3.Error as exc:
            logger.error("could not persist an auth failure (%s); counting it in memory", type(exc).__name__)
        s = self._s
        s.auth_failures += 1
        self._auth_codes.appendleft((now, clean))
        if s.auth_failures >= self._th.max_auth_failures:
            self._halt_for_auth(now)
        self._evaluate(now)

    def record_auth_success(self) -> None:
        """An authenticated request succeeded: the failure streak ends and an auth halt clears."""
        s = self._s
        if s.auth_failures == 0:
            return  # nothing to clear; no database write for every good request
        now = self._clock()
        try:
            self._db.record_auth_event(now, True, "")
        except sqlite3.Error as exc:
            logger.error("could not persist an auth success (%s)", type(exc).__name__)
        s.auth_failures = 0
        self._auth_codes.clear()
        self._remove_own_blockers()
        self._evaluate(now)

    # -- state --------------------------------------------------------------------------------

    def refresh(self) -> TradingState:
        """Re-evaluate time-based conditions now (cooling end, midnight, the hour sliding)."""
        self._evaluate(self._clock())
        return self._current_state()

    @property
    def state(self) -> TradingState:
        return self.refresh()

    @property
    def hard_stopped(self) -> bool:
        return self._s.hard_stop is not None

    @property
    def should_exit(self) -> bool:
        """True once the main loop must stop trading and exit with exit_code."""
        return self._should_exit

    @property
    def exit_code(self) -> int:
        if self._s.hard_stop is not None:
            return EXIT_HARD_STOP
        if self._auth_exit:
            return EXIT_AUTH_HALT
        return EXIT_OK

    @property
    def bankroll(self) -> Decimal:
        return self._s.bankroll

    def status(self) -> KillSwitchStatus:
        now = self._clock()
        refusal = self._evaluate(now)
        s = self._s
        return KillSwitchStatus(
            state=self._current_state(),
            reason=refusal.reason if refusal else Reason.OK.value,
            detail=refusal.detail if refusal else "",
            mode=self._mode,
            starting_bankroll=s.starting_bankroll,
            bankroll=s.bankroll,
            today_pnl=s.today_pnl(now),
            loss_since_reset=s.loss_since_reset,
            loss_streak=s.loss_streak,
            cooling_until=s.cooling_until if s.cooling_until > now else None,
            orders_last_hour=len(s.orders),
            auth_failures=s.auth_failures,
            should_exit=self._should_exit,
            exit_code=self.exit_code,
        )

    # -- evaluation -----------------------------------------------------------------------------

    def _evaluate(self, now: float) -> Verdict | None:
        """The refusal every order would get now (None: state allows orders), recording transitions."""
        s, th = self._s, self._th
        for rule in self._hard_rules:
            refusal = rule.check(s, th, now)
            if refusal is not None:
                if s.hard_stop is None:
                    self._enter_hard_stop(rule.reason, refusal.detail, now)
                    return Verdict(False, rule.reason.value, refusal.detail)
                return refusal
        # Every soft rule is evaluated (not just up to the first refusal) so that one condition
        # ending while another holds is still seen and recorded. No allocation on the usual path.
        first: Verdict | None = None
        changed = False
        flags = self._soft_active
        for i, rule in enumerate(self._soft_rules):
            refusal = rule.check(s, th, now)
            if (refusal is not None) is not flags[i]:
                changed = True
            if first is None:
                first = refusal
        if changed:
            verdicts = [rule.check(s, th, now) for rule in self._soft_rules]
            self._record_transitions([v is not None for v in verdicts], verdicts, now)
        return first

    def _current_state(self) -> TradingState:
        if self._s.hard_stop is not None:
            return TradingState.HARD_STOPPED
        for rule, active in zip(self._soft_rules, self._soft_active, strict=True):
            if active:
                return rule.state
        return TradingState.ACTIVE

    def _record_transitions(self, active: list[bool], verdicts: list[Verdict | None], now: float) -> None:
        for rule, was, is_on, refusal in zip(self._soft_rules, self._soft_active, active, verdicts, strict=True):
            if was == is_on:
                continue
            kind = rule.start_kind if is_on else rule.end_kind
            text = refusal.detail if refusal is not None else f"{rule.state.value} ended"
            logger.warning("kill switch: %s (%s): %s", kind, rule.reason.value, text)
            self._record_event(now, kind, rule.reason.value, text, rule.start_detail(self._s) if is_on else None)
        self._soft_active = active

    def _record_event(self, now: float, kind: str, reason: str, text: str, extra: dict[str, Any] | None = None) -> None:
        detail = {"message": text, **self._figures(now), **(extra or {})}
        try:
            self._db.record_kill_event(now, kind, reason, detail)
        except sqlite3.Error as exc:
            # The stop itself must never depend on the database being writable.
            logger.error("could not record kill switch event %s (%s)", kind, type(exc).__name__)
        if self._on_event is not None:
            code = self._auth_codes[0][1] if self._auth_codes else ""
            try:
                self._on_event(KillSwitchEvent(now, kind, reason, text, detail, code))
            except Exception as exc:  # noqa: BLE001 - an observer never changes what the kill switch does
                logger.error("kill switch observer failed on %s (%s)", kind, type(exc).__name__)

    def _figures(self, now: float) -> dict[str, Any]:
        s, th = self._s, self._th
        return {
            "mode": self._run_label,
            "db_path": str(self._db.path),
            "starting_bankroll": str(s.starting_bankroll),
            "bankroll": str(s.bankroll),
            "realized_pnl": str(s.realized_pnl),
            "loss_since_reset": str(s.loss_since_reset),
            "reset_ts": s.reset_ts,
            "today_pnl": str(s.today_pnl(now)),
            "loss_streak": s.loss_streak,
            "cooling_until": s.cooling_until if s.cooling_until > now else None,
            "orders_last_hour": len(s.orders),
            "auth_failures": s.auth_failures,
            "limits": {
                "max_trade_usd": str(th.max_trade_usd),
                "max_trade_pct": str(th.max_trade_pct),
                "daily_loss_usd": str(th.daily_loss_usd),
                "max_consecutive_losses": th.max_consecutive_losses,
                "cooling_s": th.cooling_s,
                "max_orders_per_hour": th.max_orders_per_hour,
                "max_auth_failures": th.max_auth_failures,
                "total_loss_usd": str(th.total_loss_usd),
                "min_bankroll_usd": str(th.min_bankroll_usd),
            },
        }

    # -- cooling ----------------------------------------------------------------------------------

    def _start_cooling(self, now: float, loss_ts: float) -> None:
        s = self._s
        s.cooling_until = now + self._th.cooling_s
        if self._soft_active[self._cooling_index]:
            # Already cooling: the new start is not a transition, so record it here or a restart
            # would rebuild the older, shorter end time.
            self._record_event(
                now, CoolingRule.start_kind, Reason.COOLING.value,
                f"cooling restarted after {s.loss_streak} consecutive losses",
                {"until": s.cooling_until, "streak_loss_ts": loss_ts},
            )

    # -- hard stop --------------------------------------------------------------------------------

    def _enter_hard_stop(self, reason: Reason, detail: str, now: float) -> None:
        """Refuse everything from now on, then persist the stop and cancel orders; no step may skip another."""
        s = self._s
        s.hard_stop = reason
        s.hard_stop_detail = detail
        self._should_exit = True
        figures = self._figures(now)
        problems: list[str] = []
        lock_written = False
        if reason is not Reason.LOCK_PRESENT:
            payload = {
                "version": 1,
                "reason": reason.value,
                "message": detail,
                "ts": now,
                "at": utc_from_ts(now).isoformat(),
                "figures": figures,
                "reset": RESET_COMMAND,
            }
            try:
                write_lock(self._root, payload)
                lock_written = True
            except (LockWriteError, OSError) as exc:
                problems.append(f"could not write {self._lock_file}: {exc}")
        try:
            self._cancel_all()
            cancel_note = "cancel of all open orders requested"
        except Exception as exc:  # a failing cancel must not skip the rest of the stop
            cancel_note = f"cancel_all FAILED ({type(exc).__name__}): cancel open orders by hand on Kalshi"
            problems.append(cancel_note)
        line = json.dumps(
            {"at": utc_from_ts(now).isoformat(), "event": "HARD_STOP", "reason": reason.value, "message": detail,
             "orders": cancel_note, "problems": problems, "figures": figures},
            sort_keys=True, default=str,
        )
        try:
            append_line(self._root / EVENT_LOG_NAME, line)
        except OSError as exc:
            problems.append(f"could not append to {EVENT_LOG_NAME}: {exc.strerror or exc}")
        self._record_event(now, "hard_stop", reason.value, detail, {"orders": cancel_note, "problems": problems})
        logger.critical("kill switch HARD STOP (%s): %s", reason.value, detail)
        self._out(hard_stop_message(reason, detail, cancel_note, lock_written, self._lock_file, problems,
                                    self._th.min_bankroll_usd))

    # -- auth halt ----------------------------------------------------------------------------------

    def _halt_for_auth(self, now: float) -> None:
        section = blockers_text(list(self._auth_codes), self._s.auth_failures, now, self._mode)
        path = self._root / BLOCKERS_NAME
        try:
            write_auth_section(self._root, section)
        except (LockWriteError, OSError) as exc:
            logger.error("could not write %s: %s", path, exc)
        if not self._auth_exit:
            self._auth_exit = True
            self._should_exit = True
            try:
                append_line(
                    self._root / EVENT_LOG_NAME,
                    json.dumps({"at": utc_from_ts(now).isoformat(), "event": "AUTH_HALT",
                                "failures": self._s.auth_failures, "codes": [c for _, c in self._auth_codes]}),
                )
            except OSError as exc:
                logger.error("could not append to %s: %s", EVENT_LOG_NAME, exc.strerror or exc)
            self._out(auth_halt_message(self._s.auth_failures, self._auth_codes[0][1], path))

    def _remove_own_blockers(self) -> None:
        try:
            remove_auth_section(self._root)
        except (LockWriteError, OSError) as exc:
            logger.error("could not update %s: %s", self._root / BLOCKERS_NAME, exc)

    # -- rebuild from the database (DECISIONS §5) ---------------------------------------------------------

    def _rebuild(self, now: float) -> None:
        db, s, th = self._db, self._s, self._th
        s.realized_pnl = db.realized_pnl()
        s.refresh_money(th)
        reset = db.latest_kill_event("reset")
        s.reset_ts = reset.ts if reset is not None else None
        s.loss_since_reset = -(db.realized_pnl(since_ts=s.reset_ts) if reset is not None else s.realized_pnl)
        today = utc_day_number(now)
        s.daily_pnl = {today: db.realized_pnl(today * SECONDS_PER_DAY, (today + 1) * SECONDS_PER_DAY)}
        for ts, client_id in db.order_times_since(now - RATE_WINDOW_S, UNSUBMITTED_ORDER_STATUSES):
            if now - ts < RATE_WINDOW_S and not (client_id and client_id in s.order_ids):
                s.orders.append((ts, client_id))
                if client_id:
                    s.order_ids.add(client_id)
        s.auth_failures = db.consecutive_auth_failures()
        for event in db.recent_auth_events(min(s.auth_failures, self._auth_codes.maxlen or 10)):
            self._auth_codes.append((event.ts, event.code))
        fresh_cooling_from = self._rebuild_streak(now)

        # Bring the event log in line with the rebuilt state, without repeating what is recorded.
        verdicts = [rule.check(s, th, now) for rule in self._soft_rules]
        for i, (rule, refusal) in enumerate(zip(self._soft_rules, verdicts, strict=True)):
            latest = db.latest_kill_event(rule.start_kind, rule.end_kind)
            recorded_on = latest is not None and latest.kind == rule.start_kind
            fresh = i == self._cooling_index and fresh_cooling_from is not None
            if refusal is not None and (fresh or not recorded_on):
                extra = {**rule.start_detail(s), **({"streak_loss_ts": fresh_cooling_from} if fresh else {})}
                self._record_event(now, rule.start_kind, rule.reason.value, refusal.detail + " (at start-up)", extra)
            elif refusal is None and recorded_on:
                self._record_event(now, rule.end_kind, rule.reason.value, f"{rule.state.value} ended (at start-up)")
        self._soft_active = [v is not None for v in verdicts]

    def _rebuild_streak(self, now: float) -> float | None:
        """Rebuild the losing streak and any cooling; returns the loss time if a new cooling had to start."""
        s, th = self._s, self._th
        losses: list[float] = []  # settled_ts of the streak's losses, newest first
        for trade in self._db.recent_settled_trades(STREAK_LOOKBACK):
            pnl = trade.pnl if trade.pnl is not None else ZERO
            if pnl > 0:
                break
            if pnl < 0:
                losses.append(trade.settled_ts or 0.0)
        s.loss_streak = len(losses)
        if s.loss_streak < th.max_consecutive_losses:
            return None
        # The loss that completed the latest full multiple of the limit started the latest cooling.
        trigger_ts = losses[s.loss_streak % th.max_consecutive_losses]
        event = self._db.latest_kill_event(CoolingRule.start_kind)
        if event is not None and event.ts >= trigger_ts and "until" in event.detail:
            s.cooling_until = float(event.detail["until"])
            return None
        # The trade settled but the process died before the hook ran: cool from now (never shorter).
        s.cooling_until = now + th.cooling_s
        return trigger_ts


# -- module-level helpers the lead's main.py calls ------------------------------------------------------


def startup_lock_check(root: Path, *, out: Output = print_stderr) -> int:
    """Step 1 of start-up: EXIT_OK when there is no lock, else print why and return EXIT_HARD_STOP."""
    info = read_lock(root)
    if info is None:
        return EXIT_OK
    if info.data is not None:
        why = f"{info.data.get('reason', '?')} at {info.data.get('at', '?')}: {info.data.get('message', '')}"
    else:
        why = f"lock file unreadable ({info.error}); it still counts"
    out(locked_start_message(why, root))
    return EXIT_HARD_STOP


def _refuse_looser_than_code(risk: RiskConfig) -> None:
    """config.py already refuses looser limits; a RiskConfig built some other way is refused here too."""
    for limit in LIMITS:
        section, key = limit.key.split(".")
        if section != "risk":
            continue
        value = getattr(risk, key)
        if not limit.allows(value):
            raise ValueError(f"{limit.key}={value} is looser than the code allows ({limit.hard}); refusing to start")


def _clean_code(code: object) -> str:
    """Keep an error code printable and short: it goes to the database and BLOCKERS.md."""
    return _CODE_CHARS.sub("", str(code))[:80]
