"""Word each event the owner hears about as a (title, body) pair: pure functions, plain text, no secrets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from src.model.models import Order, qty, usd, utc_from_ts
from src.risk.kill_switch import RESET_COMMAND, KillSwitchEvent

Text = tuple[str, str]  # (title, body)
KALSHI = "Kalshi"  # the venue of the main loop; Polymarket US runs beside it with its own kill switch


def tag(title: str, venue: str) -> str:
    """Every trading message names its venue: both may run at once, each with its own kill switch."""
    return f"{title} [{venue}]"


def when(ts: float) -> str:
    return utc_from_ts(ts).strftime("%Y-%m-%d %H:%M UTC")


def duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


# -- start and stop --------------------------------------------------------------------------------


def started(mode: str, bankroll: Decimal, kill_state: str, venue: str | None = None) -> Text:
    """venue None: the bot itself; a venue name: that venue's loop beside it."""
    return (f"{venue or 'Bot'} started ({mode.upper()})",
            f"Mode {mode.upper()}, bankroll {usd(bankroll)}, kill switch {kill_state}.")


def stopped(mode: str, bankroll: Decimal, exit_code: int, why: str, venue: str | None = None) -> Text:
    return (f"{venue or 'Bot'} stopped ({mode.upper()})",
            f"Mode {mode.upper()}, bankroll {usd(bankroll)}. {why} (exit code {exit_code}).")


# -- trades ------------------------------------------------------------------------------------------


def order_filled(order: Order, venue: str = KALSHI, edge: Decimal | None = None) -> Text:
    """A fill, however it was found; the edge is known only when the order's intent is at hand."""
    price = order.avg_fill_price if order.avg_fill_price is not None else order.limit_price
    side = order.side.value.upper()
    edge_text = f", edge {edge}" if edge is not None else ""
    return (
        tag(f"Filled: {qty(order.filled_count)} {side} {order.ticker}", venue),
        f"{venue}: bought {qty(order.filled_count)} {side} {order.ticker} @ ${price.quantize(Decimal('0.0001'))}, "
        f"fee {usd(order.fees)}{edge_text}.",
    )


class SettledLike(Protocol):
    """What a settlement pass reports per trade (src/execution/settlement.SettledTrade)."""

    ticker: str
    side: Any
    count: Decimal
    outcome: str
    pnl: Decimal
    bankroll_after: Decimal


def settled(trade: SettledLike, venue: str = KALSHI) -> Text:
    result = "WON" if trade.pnl > 0 else "LOST" if trade.pnl < 0 else "EVEN"
    side = getattr(trade.side, "value", str(trade.side)).upper()
    return (
        tag(f"{result} {usd(trade.pnl)}: {trade.ticker}", venue),
        f"{venue}: {trade.ticker} settled {trade.outcome.upper()}; you held {qty(trade.count)} {side}. "
        f"P&L {usd(trade.pnl)}, bankroll now {usd(trade.bankroll_after)}.",
    )


# -- the kill switch -----------------------------------------------------------------------------------

_KILL_TITLES = {
    "cooling_start": "Cooling: no new orders",
    "cooling_end": "Cooling over: trading again",
    "daily_halt": "Daily loss limit: halted until 00:00 UTC",
    "daily_resume": "Daily halt over: trading again",
    "rate_pause": "Order rate limit: paused",
    "rate_resume": "Rate pause over: trading again",
    "auth_halt": "AUTH HALT: the venue keeps refusing the keys",
    "auth_resume": "Authentication works again: halt cleared",
    "hard_stop": "HARD STOP",
}


def kill_switch(event: KillSwitchEvent, venue: str = KALSHI, reset_command: str = RESET_COMMAND) -> Text:
    title = _KILL_TITLES.get(event.kind, f"Kill switch: {event.kind}")
    detail = event.detail
    parts = [event.message.rstrip(".") + "."]
    if event.kind == "cooling_start" and isinstance(detail.get("until"), int | float):
        parts.append(f"No new orders until {when(float(detail['until']))}; it resumes by itself.")
    if event.kind == "hard_stop":
        title = f"HARD STOP ({event.reason})"
        orders = detail.get("orders")
        if orders:
            parts.append(f"Orders: {orders}.")
        parts.append("Trading has stopped and the bot exits. Reset only at the terminal: review "
                     f"KILL_SWITCH_EVENT.log, then run `{reset_command}` and start the bot again.")
    if event.kind == "auth_halt":
        parts.append(f"Last error: {event.last_auth_code or 'no code'}. See BLOCKERS.md on the bot's machine; "
                     "check the key id and key file in .env and the computer's clock, then run --verify.")
    if "bankroll" in detail:
        parts.append(f"Bankroll ${detail['bankroll']}, today's P&L ${detail.get('today_pnl', '?')}.")
    return tag(title, venue), f"{venue} kill switch: " + " ".join(parts)


# -- health ------------------------------------------------------------------------------------------------


def outage(what: str, down_for_s: float, since_ts: float) -> Text:
    return (f"{what} DOWN for {duration(down_for_s)}",
            f"No sign of life from {what} since {when(since_ts)}. No new orders depend on it until it is back.")


def recovered(what: str, down_for_s: float) -> Text:
    return (f"{what} back up", f"{what} is working again after {duration(down_for_s)}.")


class DiscrepancyLike(Protocol):
    code: str
    ticker: str
    detail: str


def reconciliation(items: Sequence[DiscrepancyLike], venue: str = KALSHI) -> Text:
    lines = [f"- {d.code} {d.ticker}: {d.detail}" for d in items[:5]]
    more = f"\n... and {len(items) - 5} more" if len(items) > 5 else ""
    return (tag(f"Reconciliation mismatch ({len(items)})", venue),
            f"{venue} and the database disagree; no new orders until they agree again.\n" + "\n".join(lines) + more)


# -- summaries ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PeriodFigures:
    """What a summary reports for a day or a week."""

    label: str  # "2026-12-07" or "2026-12-01 to 2026-12-07"
    trades: int
    wins: int
    losses: int
    net_pnl: Decimal
    fees: Decimal
    bankroll_start: Decimal
    bankroll_end: Decimal
    kill_events: int


def summary(period: str, figures: PeriodFigures, all_time_pnl: Decimal) -> Text:
    f = figures
    rate = f" ({f.wins * 100 // (f.wins + f.losses)}% won)" if f.wins + f.losses else ""
    return (
        f"{period} summary {f.label}: {usd(f.net_pnl)}",
        f"{f.trades} trades settled: {f.wins} won, {f.losses} lost{rate}. Net P&L {usd(f.net_pnl)} "
        f"after {usd(f.fees)} fees. Bankroll {usd(f.bankroll_start)} -> {usd(f.bankroll_end)}. "
        f"All-time P&L {usd(all_time_pnl)}. Kill switch events: {f.kill_events}.",
    )


# -- remote control -----------------------------------------------------------------------------------------


def remote_command(command: str, chat_id: int, outcome: str) -> Text:
    return (f"Remote {command} from Telegram", f"{command} from chat {chat_id}: {outcome}")
