"""Kalshi wire parsing: 2026 fixed-point JSON answers into typed models (Decimal money), with small caches."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from src.model.models import (
    CENT,
    ONE,
    ZERO,
    BookLevel,
    ExchangeStatus,
    Fill,
    Market,
    Order,
    OrderBook,
    Position,
    Settlement,
    Side,
)
from src.platforms.kalshi_errors import KalshiAPIError, KalshiAuthFailure

_MESSAGE_MAX = 200


# Floats (e.g. floor_strike) become Decimal so no money or strike ever passes through float.
# (Hence not orjson: it has no such hook, and Kalshi sends floor_strike as a JSON number.)
# One decoder for all responses: json.loads(raw, parse_float=...) would build a new one per call.
_JSON = json.JSONDecoder(parse_float=Decimal)


def loads(raw: bytes) -> Any:
    """json.loads(raw, parse_float=Decimal), step for step, with the shared decoder."""
    return _JSON.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))


def malformed(what: str) -> KalshiAPIError:
    return KalshiAPIError(200, "malformed_response", what)


def _number(text: str, field: str) -> Decimal:
    """A non-empty str as a finite Decimal: the common case, as Kalshi sends numbers as strings.

    Same result and errors as _dec's general path: Decimal() strips exactly the whitespace that
    str.strip() does (tests/test_kalshi_client.py checks this), so the strip copy is skipped.
    """
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise malformed(f"field {field!r} is not a number: {text[:20]!r}") from None
    if not number.is_finite():
        raise malformed(f"field {field!r} is not finite")
    return number


def _dec(value: Any, field: str, *, optional: bool = False) -> Decimal | None:
    if type(value) is str and value:
        return _number(value, field)
    if type(value) is Decimal and value.is_finite():
        # A JSON number (parse_float=Decimal). Decimal(str(d)) is d again, exponent included.
        return value
    if value is None or value == "":
        if optional:
            return None
        raise malformed(f"field {field!r} is missing")
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise malformed(f"field {field!r} is not a number")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise malformed(f"field {field!r} is not a number: {str(value)[:20]!r}") from None
    if not number.is_finite():
        raise malformed(f"field {field!r} is not finite")
    return number


def _req_dec(d: Mapping[str, Any], field: str) -> Decimal:
    value = _dec(d.get(field), field)
    if value is None:  # pragma: no cover - _dec raises for missing required fields
        raise malformed(f"field {field!r} is missing")
    return value


def _opt_dec(d: Mapping[str, Any], field: str) -> Decimal | None:
    value = d.get(field)
    if type(value) is str and value:
        return _number(value, field)
    return _dec(value, field, optional=True)


def _dec_or_zero(d: Mapping[str, Any], field: str) -> Decimal:
    value = _opt_dec(d, field)
    return ZERO if value is None else value


def _str(d: Mapping[str, Any], field: str, *, optional: bool = False) -> str:
    value = d.get(field)
    if type(value) is str and value:
        return value
    if value is None or value == "":
        if optional:
            return ""
        raise malformed(f"field {field!r} is missing")
    if not isinstance(value, str):
        raise malformed(f"field {field!r} is not a string")
    return value


# Parsed ISO times by their text. The same open/close times come back on every listing and poll;
# only times that parsed cleanly are kept, so a bad one still raises every time. Bounded: cleared when full.
_TIMES: dict[str, datetime] = {}
_TIMES_MAX = 4096


def _time(d: Mapping[str, Any], field: str) -> datetime:
    text = d.get(field)
    if type(text) is str:
        when = _TIMES.get(text)
        if when is not None:
            return when
    text = _str(d, field)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise malformed(f"field {field!r} is not an ISO time: {text[:32]!r}") from None
    if when.tzinfo is None:
        raise malformed(f"field {field!r} has no time zone")
    if len(_TIMES) >= _TIMES_MAX:
        _TIMES.clear()
    _TIMES[text] = when
    return when


def _ts(d: Mapping[str, Any], field: str) -> float:
    return _time(d, field).timestamp() if d.get(field) else 0.0


def _is_mapping(value: Any) -> bool:
    # JSON objects are dicts: the exact-type test spares the slower ABC isinstance in the usual case.
    return type(value) is dict or isinstance(value, Mapping)


def json_obj(payload: Any, field: str) -> Mapping[str, Any]:
    value = payload.get(field) if _is_mapping(payload) else None
    if not _is_mapping(value):
        raise malformed(f"object {field!r} is missing")
    return value


def json_list(payload: Any, field: str) -> list[Mapping[str, Any]]:
    if not _is_mapping(payload):
        raise malformed("response is not a JSON object")
    value = payload.get(field)
    if value is None:
        return []
    if not isinstance(value, list) or not all(_is_mapping(item) for item in value):
        raise malformed(f"field {field!r} is not a list of objects")
    return value


def parse_market(d: Mapping[str, Any]) -> Market:
    """A Kalshi market object (2026 fixed-point shape) as models.Market."""
    return Market(
        ticker=_str(d, "ticker"),
        event_ticker=_str(d, "event_ticker", optional=True),
        status=_str(d, "status", optional=True),
        open_time=_time(d, "open_time"),
        close_time=_time(d, "close_time"),
        floor_strike=_opt_dec(d, "floor_strike"),
        result=_str(d, "result", optional=True),
        expiration_value=_opt_dec(d, "expiration_value"),
        yes_bid=_opt_dec(d, "yes_bid_dollars"),
        yes_ask=_opt_dec(d, "yes_ask_dollars"),
        no_bid=_opt_dec(d, "no_bid_dollars"),
        no_ask=_opt_dec(d, "no_ask_dollars"),
        last_price=_opt_dec(d, "last_price_dollars"),
        volume=_dec_or_zero(d, "volume_fp"),
        strike_type=_str(d, "strike_type", optional=True) or "greater_or_equal",
    )


# Parsed order-book levels by their [price, count] text. Between two polls most levels of a book are
# unchanged, and a BookLevel is immutable, so an unchanged level is looked up instead of parsed and
# built again. Only levels that passed the checks are kept (None = a valid level with count 0, which
# is dropped); anything else takes the full path and raises as before. Bounded: cleared when full.
_LEVELS: dict[tuple[str, str], BookLevel | None] = {}
_LEVELS_MAX = 8192
_MISS = BookLevel(ZERO, ZERO)  # "not cached" marker: never stored, as a 0-count level is kept as None


def _level(level: Any, field: str, price_field: str, count_field: str) -> BookLevel | None:
    """One [price, count] pair checked and parsed; None for an empty (count 0) level."""
    if not isinstance(level, list | tuple) or len(level) != 2:
        raise malformed(f"order book side {field!r} has a level that is not [price, count]")
    raw_price, raw_count = level
    price = _number(raw_price, price_field) if type(raw_price) is str and raw_price else _dec(raw_price, price_field)
    count = _number(raw_count, count_field) if type(raw_count) is str and raw_count else _dec(raw_count, count_field)
    if price is None or count is None or not ZERO < price < ONE or count < 0:
        raise malformed(f"order book side {field!r} has an impossible level")
    return BookLevel(price, count) if count > 0 else None


def _level_key(level: BookLevel) -> tuple[Decimal, Decimal]:
    return level.price, level.count


def _levels(raw: Any, field: str) -> tuple[BookLevel, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise malformed(f"order book side {field!r} is not a list")
    known = _LEVELS
    price_field, count_field = f"{field}.price", f"{field}.count"
    levels: list[BookLevel] = []
    for level in raw:
        key = None
        if type(level) is list and len(level) == 2:
            price, count = level
            if type(price) is str and type(count) is str:
                key = (price, count)
                parsed = known.get(key, _MISS)
                if parsed is not _MISS:
                    if parsed is not None:
                        levels.append(parsed)
                    continue
        parsed = _level(level, field, price_field, count_field)
        if key is not None:
            if len(known) >= _LEVELS_MAX:
                known.clear()
            known[key] = parsed
        if parsed is not None:
            levels.append(parsed)
    # Kalshi sends ascending (best bid last); sort anyway so best_bid() can rely on it.
    levels.sort(key=_level_key)
    return tuple(levels)


def parse_orderbook(ticker: str, payload: Any, fetched_at: float) -> OrderBook:
    book = json_obj(payload, "orderbook_fp")
    return OrderBook(
        ticker=ticker,
        yes_bids=_levels(book.get("yes_dollars"), "yes_dollars"),
        no_bids=_levels(book.get("no_dollars"), "no_dollars"),
        fetched_at=fetched_at,
    )


def _bought(d: Mapping[str, Any]) -> tuple[Side, Decimal]:
    """Which outcome an order/fill buys and the price paid for it, from any of Kalshi's side conventions.

    V2 quotes on the YES book (bid = buy YES at p; ask = sell YES at p = buy NO at 1 - p): `book_side`
    (since `direction` was removed on 2026-05-28) or a bid/ask `side`. Otherwise `outcome_side` or
    `side` yes|no with `action` buy|sell. Selling one side is buying the other at 1 - price.
    `direction` is never read.
    """
    side = (_str(d, "book_side", optional=True) or _str(d, "outcome_side", optional=True)
            or _str(d, "side")).lower()
    action = _str(d, "action", optional=True).lower() or "buy"
    yes_price = _opt_dec(d, "yes_price_dollars")
    no_price = _opt_dec(d, "no_price_dollars")
    if side in ("bid", "ask"):
        price = _opt_dec(d, "price_dollars") or _opt_dec(d, "price") or yes_price
        if price is None:
            raise malformed("order has no price")
        return (Side.YES, price) if side == "bid" else (Side.NO, ONE - price)
    if side not in ("yes", "no") or action not in ("buy", "sell"):
        raise malformed(f"unknown side/action {side!r}/{action!r}")
    outcome = Side(side)
    if action == "sell":
        outcome = outcome.other
    if outcome is Side.YES:
        price = yes_price if yes_price is not None else (None if no_price is None else ONE - no_price)
    else:
        price = no_price if no_price is not None else (None if yes_price is None else ONE - yes_price)
    if price is None:
        raise malformed("order has no price")
    return outcome, price


def parse_order(d: Mapping[str, Any]) -> Order:
    """An order from GET /portfolio/orders (fixed-point shape) as models.Order."""
    side, price = _bought(d)
    filled = _dec_or_zero(d, "fill_count_fp")
    remaining = _dec_or_zero(d, "remaining_count_fp")
    initial = _opt_dec(d, "initial_count_fp")
    if initial is None:
        initial = filled + remaining
    fees = _dec_or_zero(d, "taker_fees_dollars") + _dec_or_zero(d, "maker_fees_dollars")
    cost = _dec_or_zero(d, "taker_fill_cost_dollars") + _dec_or_zero(d, "maker_fill_cost_dollars")
    return Order(
        order_id=_str(d, "order_id"),
        client_order_id=_str(d, "client_order_id", optional=True),
        ticker=_str(d, "ticker"),
        side=side,
        count=initial,
        limit_price=price,
        status=_str(d, "status", optional=True) or "pending",
        filled_count=filled,
        remaining_count=remaining,
        fees=fees,
        avg_fill_price=(cost / filled) if filled > 0 and cost > 0 else None,
        created_ts=_ts(d, "created_time"),
    )


def parse_fill(d: Mapping[str, Any]) -> Fill:
    side, price = _bought(d)
    return Fill(
        order_id=_str(d, "order_id"),
        ticker=_str(d, "ticker", optional=True) or _str(d, "market_ticker"),
        side=side,
        count=_req_dec(d, "count_fp"),
        price=price,
        fee=_dec_or_zero(d, "fee_cost"),
        ts=_ts(d, "created_time"),
        fill_id=_str(d, "fill_id", optional=True) or _str(d, "trade_id", optional=True),
        is_taker=bool(d.get("is_taker", True)),
    )


def parse_position(d: Mapping[str, Any]) -> Position | None:
    """A market position; None when flat. Kalshi signs the count: positive YES, negative NO."""
    signed = _req_dec(d, "position_fp")
    if signed == 0:
        return None
    return Position(
        ticker=_str(d, "ticker"),
        side=Side.YES if signed > 0 else Side.NO,
        count=abs(signed),
        cost=_dec_or_zero(d, "market_exposure_dollars"),
        fees=_dec_or_zero(d, "fees_paid_dollars"),
    )


def parse_settlement(d: Mapping[str, Any]) -> Settlement:
    revenue = _opt_dec(d, "revenue_dollars")
    if revenue is None:
        # Older shape: integer cents.
        revenue = _req_dec(d, "revenue") / 100
    return Settlement(
        ticker=_str(d, "ticker"),
        result=_str(d, "market_result", optional=True),
        revenue=revenue,
        settled_ts=_ts(d, "settled_time"),
        yes_count=_dec_or_zero(d, "yes_count_fp"),
        no_count=_dec_or_zero(d, "no_count_fp"),
        cost=_dec_or_zero(d, "yes_total_cost_dollars") + _dec_or_zero(d, "no_total_cost_dollars"),
        fees=_dec_or_zero(d, "fee_cost"),
    )


@dataclass(frozen=True, slots=True)
class OrderGroup:
    """An exchange-side order group: its contracts limit per rolling 15 s and the orders in it."""

    order_group_id: str
    contracts_limit: Decimal | None
    auto_cancel_enabled: bool
    order_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SeriesFees:
    """A series' fee terms as the venue states them: fee_type and its multiplier."""

    series_ticker: str
    fee_type: str
    fee_multiplier: Decimal


@dataclass(frozen=True, slots=True)
class FeeChange:
    """A fee change the venue announced for a series, effective at `scheduled_ts` (epoch seconds)."""

    series_ticker: str
    fee_type: str
    fee_multiplier: Decimal
    scheduled_ts: float


def parse_order_group_id(payload: Any) -> str:
    if not _is_mapping(payload):
        raise malformed("response is not a JSON object")
    return _str(payload, "order_group_id")


def parse_order_group(order_group_id: str, payload: Any) -> OrderGroup:
    if not _is_mapping(payload):
        raise malformed("response is not a JSON object")
    enabled = payload.get("is_auto_cancel_enabled")
    if not isinstance(enabled, bool):
        raise malformed("field 'is_auto_cancel_enabled' is not a boolean")
    limit = _opt_dec(payload, "contracts_limit_fp")
    if limit is None:
        limit = _opt_dec(payload, "contracts_limit")
    orders = payload.get("orders") or []
    if not isinstance(orders, list) or not all(isinstance(o, str) for o in orders):
        raise malformed("field 'orders' is not a list of order ids")
    return OrderGroup(order_group_id, limit, enabled, tuple(orders))


def parse_order_groups(payload: Any) -> list[OrderGroup]:
    """GET /portfolio/order_groups (no pagination: Kalshi lists every group at once)."""
    groups = []
    for row in json_list(payload, "order_groups"):
        limit = _opt_dec(row, "contracts_limit_fp")
        if limit is None:
            limit = _opt_dec(row, "contracts_limit")
        groups.append(OrderGroup(_str(row, "id"), limit, bool(row.get("is_auto_cancel_enabled", False)), ()))
    return groups


def _fee_terms(d: Mapping[str, Any]) -> tuple[str, Decimal]:
    # fee_multiplier is a JSON number (parse_float gives a Decimal, an integer stays int).
    return _str(d, "fee_type"), _req_dec(d, "fee_multiplier")


def parse_series_fees(payload: Any) -> SeriesFees:
    series = json_obj(payload, "series")
    fee_type, multiplier = _fee_terms(series)
    return SeriesFees(_str(series, "ticker"), fee_type, multiplier)


def parse_fee_changes(payload: Any) -> list[FeeChange]:
    changes = []
    for row in json_list(payload, "series_fee_change_arr"):
        fee_type, multiplier = _fee_terms(row)
        when = row.get("scheduled_ts")
        scheduled = float(when) if isinstance(when, int | Decimal) and not isinstance(when, bool) else _ts(
            row, "scheduled_ts")
        changes.append(FeeChange(_str(row, "series_ticker"), fee_type, multiplier, scheduled))
    return changes


def parse_balance(payload: Any) -> Decimal:
    if not isinstance(payload, Mapping):
        raise malformed("response is not a JSON object")
    dollars = _opt_dec(payload, "balance_dollars")
    if dollars is not None:
        return dollars
    return _req_dec(payload, "balance") / 100


def parse_exchange_status(payload: Any) -> ExchangeStatus:
    if not isinstance(payload, Mapping):
        raise malformed("response is not a JSON object")
    for field in ("exchange_active", "trading_active"):
        if not isinstance(payload.get(field), bool):
            raise malformed(f"field {field!r} is not a boolean")
    resume = payload.get("exchange_estimated_resume_time")
    return ExchangeStatus(
        exchange_active=payload["exchange_active"],
        trading_active=payload["trading_active"],
        estimated_resume_time=resume if isinstance(resume, str) else "",
    )


def placed_order(
    payload: Any, *, ticker: str, side: Side, count: Decimal, price: Decimal, client_order_id: str, now: float
) -> Order:
    """The V2 create-order answer (fill/remaining counts, YES-quoted average price) as models.Order."""
    if not isinstance(payload, Mapping):
        raise malformed("response is not a JSON object")
    body = payload.get("order") if isinstance(payload.get("order"), Mapping) else payload
    filled = _dec_or_zero(body, "fill_count")
    remaining = _dec_or_zero(body, "remaining_count")
    avg_yes = _opt_dec(body, "average_fill_price")
    avg_fee = _opt_dec(body, "average_fee_paid")
    avg_price = None if avg_yes is None else (avg_yes if side is Side.YES else ONE - avg_yes)
    fees = ZERO if avg_fee is None else (avg_fee * filled).quantize(CENT, rounding=ROUND_HALF_UP)
    if remaining > 0:
        status = "resting"
    elif filled > 0:
        status = "executed"
    else:
        status = "canceled"
    return Order(
        order_id=_str(body, "order_id"),
        client_order_id=_str(body, "client_order_id", optional=True) or client_order_id,
        ticker=ticker,
        side=side,
        count=count,
        limit_price=price,
        status=status,
        filled_count=filled,
        remaining_count=remaining,
        fees=fees,
        avg_fill_price=avg_price,
        created_ts=now,
    )



def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    text = " ".join(text.split())
    return text[:_MESSAGE_MAX]


def error_from(status: int, raw: bytes, secrets: tuple[str, ...], method: str, path: str) -> KalshiAPIError:
    code, message = f"http_{status}", ""
    try:
        payload = loads(raw)
    except (ValueError, UnicodeDecodeError):
        payload = None
    if isinstance(payload, Mapping):
        err = payload.get("error")
        if isinstance(err, Mapping):
            code = str(err.get("code") or code)
            message = str(err.get("message") or "")
            details = err.get("details")
            if details and isinstance(details, str | int | float):
                message = f"{message} ({details})" if message else str(details)
        elif isinstance(payload.get("code"), str):
            code = payload["code"]
            message = str(payload.get("message") or "")
    cls = KalshiAuthFailure if status == 401 else KalshiAPIError
    return cls(status, _scrub(code, secrets)[:64], _scrub(message, secrets) or "no message", method=method, path=path)
