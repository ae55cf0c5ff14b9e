"""Typed parsing of Kalshi websocket messages (AsyncAPI `/trade-api/ws/v2`): JSON text in, frozen values out.

Every field the bot reads is checked here, once: prices and counts are fixed-point strings parsed
into Decimal (never float), sides are "yes"/"no", timestamps are integers. A message of a known type
with a missing or malformed field raises one of BAD_FRAME (ValueError, KeyError, TypeError); a
message of a type the bot does not use parses to None. Commands (client -> server) are built here too,
so the wire format lives in one file.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from src.model.models import Fill, Side

WS_PATH = "/trade-api/ws/v2"

# Channel names (AsyncAPI `channels`).
CH_BOOK = "orderbook_delta"
CH_TICKER = "ticker"
CH_TRADE = "trade"
CH_LIFECYCLE = "market_lifecycle_v2"
CH_INDEX = "cfbenchmarks_value"
CH_FILL = "fill"
CH_USER_ORDERS = "user_orders"
CH_ORDER_GROUPS = "order_group_updates"
MARKET_CHANNELS = (CH_BOOK, CH_TICKER, CH_TRADE)
PRIVATE_CHANNELS = (CH_FILL, CH_USER_ORDERS, CH_ORDER_GROUPS)

BRTI = "BRTI"  # the CF Benchmarks index KXBTC15M settles on

# Error codes (AsyncAPI errorResponse). 10 and 25 end a subscription: it must be subscribed again.
ERR_CHANNEL = 10
ERR_BUFFER_OVERFLOW = 25
ERR_TOO_MANY_REQUESTS = 27
TERMINAL_ERRORS = frozenset({ERR_CHANNEL, ERR_BUFFER_OVERFLOW})

_SIDES = {"yes": Side.YES, "no": Side.NO}


def dec(value: object, field: str) -> Decimal:
    """A fixed-point string as a finite Decimal; anything else (floats included) is a bad frame."""
    if not isinstance(value, str):
        raise TypeError(f"{field} must be a fixed-point string, got {type(value).__name__}")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{field} is not a number: {value[:20]!r}") from None
    if not number.is_finite():
        raise ValueError(f"{field} is not finite")
    return number


def _int(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{field} must be an integer")
    return value


def _opt_int(msg: dict[str, Any], field: str) -> int | None:
    return None if msg.get(field) is None else _int(msg[field], field)


def _str(value: object, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(f"{field} must be a non-empty string")
    return value


def _side(value: object, field: str) -> Side:
    if not isinstance(value, str) or value not in _SIDES:
        raise ValueError(f"{field} must be yes or no")
    return _SIDES[value]


def _levels(raw: object, field: str) -> tuple[tuple[Decimal, Decimal], ...]:
    if raw is None:  # the key is absent when a side has no bids
        return ()
    if not isinstance(raw, list):
        raise TypeError(f"{field} must be a list of [price, count]")
    out = []
    for level in raw:
        if not isinstance(level, list) or len(level) != 2:
            raise TypeError(f"{field} levels are [price, count] pairs")
        out.append((dec(level[0], field), dec(level[1], field)))
    return tuple(out)


# -- server -> client ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Subscribed:
    """A subscribe command was accepted: `channel` now streams under `sid`."""

    cmd_id: int
    channel: str
    sid: int


@dataclass(frozen=True, slots=True)
class CommandOk:
    """An update_subscription (add/delete markets, get_snapshot) or unsubscribe was accepted."""

    cmd_id: int
    sid: int | None


@dataclass(frozen=True, slots=True)
class WsError:
    """A command or a subscription failed; `sid` is set when the error belongs to a subscription."""

    cmd_id: int | None
    sid: int | None
    code: int
    message: str
    market_ticker: str = ""

    @property
    def terminal(self) -> bool:
        return self.code in TERMINAL_ERRORS


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """The whole book of one market: bids per side, in each leg's own price (use_yes_price false)."""

    sid: int
    seq: int
    ticker: str
    yes: tuple[tuple[Decimal, Decimal], ...]
    no: tuple[tuple[Decimal, Decimal], ...]


@dataclass(frozen=True, slots=True)
class BookDelta:
    """One price level of one side changed by `delta` contracts (negative: removed)."""

    sid: int
    seq: int
    ticker: str
    side: Side
    price: Decimal
    delta: Decimal
    ts_ms: int | None
    client_order_id: str = ""  # present only when one of our orders caused the change


@dataclass(frozen=True, slots=True)
class TickerUpdate:
    """Last price and best YES bid/ask of one market."""

    ticker: str
    last_price: Decimal
    yes_bid: Decimal
    yes_ask: Decimal
    volume: Decimal
    ts_ms: int


@dataclass(frozen=True, slots=True)
class PublicTrade:
    """One public print on a Kalshi market."""

    sid: int
    seq: int | None
    trade_id: str
    ticker: str
    yes_price: Decimal
    count: Decimal
    taker_side: Side  # taker_outcome_side
    ts_ms: int


@dataclass(frozen=True, slots=True)
class LifecycleEvent:
    """A market was created, (de)activated, re-dated, determined or settled, or its strike was published."""

    ticker: str
    event_type: str
    open_ts: int | None = None
    close_ts: int | None = None
    determination_ts: int | None = None
    settled_ts: int | None = None
    result: str = ""
    settlement_value: Decimal | None = None
    floor_strike: Decimal | None = None
    strike_type: str = ""
    is_deactivated: bool | None = None


@dataclass(frozen=True, slots=True)
class FeeUpdate:
    """An event-level fee override was set (or cleared: both None)."""

    event_ticker: str
    fee_type: str | None
    multiplier: Decimal | None


@dataclass(frozen=True, slots=True)
class Average:
    """A CF Benchmarks windowed average: its value and how many one-second ticks it holds."""

    value: Decimal
    count: int
    start_ms: int
    end_ms: int  # exclusive


@dataclass(frozen=True, slots=True)
class IndexValue:
    """One CF Benchmarks print (about once a second): the index, its trailing 60-s average and, in the
    last minute before a quarter hour, the running settlement average of that minute."""

    index_id: str
    value: Decimal
    source_ts_ms: int  # CF Benchmarks' own publication time
    received_ms: int  # when Kalshi received it
    avg_60s: Average
    settle_avg: Average | None  # last_60s_windowed_average_15min


@dataclass(frozen=True, slots=True)
class UserFill:
    """One of our orders traded (private `fill` channel)."""

    trade_id: str
    order_id: str
    client_order_id: str
    ticker: str
    side: Side  # outcome_side: the side the fill positions us for
    yes_price: Decimal
    count: Decimal
    fee: Decimal
    is_taker: bool
    ts_ms: int

    @property
    def price(self) -> Decimal:
        """Dollars paid per contract of `side`."""
        return self.yes_price if self.side is Side.YES else Decimal(1) - self.yes_price

    def to_fill(self) -> Fill:
        return Fill(
            order_id=self.order_id,
            ticker=self.ticker,
            side=self.side,
            count=self.count,
            price=self.price,
            fee=self.fee,
            ts=self.ts_ms / 1000.0,
            fill_id=self.trade_id,
            is_taker=self.is_taker,
        )


@dataclass(frozen=True, slots=True)
class UserOrderUpdate:
    """An order of ours was created or changed (private `user_orders` channel)."""

    order_id: str
    client_order_id: str
    ticker: str
    status: str  # resting | canceled | executed | unknown
    side: Side
    yes_price: Decimal
    filled: Decimal
    remaining: Decimal
    initial: Decimal
    taker_fees: Decimal
    maker_fees: Decimal
    updated_ms: int | None


@dataclass(frozen=True, slots=True)
class OrderGroupUpdate:
    """One of our order groups was created, triggered, reset, deleted or had its limit changed
    (private `order_group_updates` channel)."""

    order_group_id: str
    event_type: str  # created | triggered | reset | deleted | limit_updated
    contracts_limit: Decimal | None
    ts_ms: int | None


WsMessage = (
    Subscribed | CommandOk | WsError | BookSnapshot | BookDelta | TickerUpdate | PublicTrade | LifecycleEvent
    | FeeUpdate | IndexValue | UserFill | UserOrderUpdate | OrderGroupUpdate
)


def _average(raw: object, field: str) -> Average:
    if not isinstance(raw, dict):
        raise TypeError(f"{field} must be an object")
    return Average(
        value=dec(raw["value"], field),
        count=_int(raw["window_size"], field),
        start_ms=_int(raw["window_start_ts_ms"], field),
        end_ms=_int(raw["window_end_ts_exclusive"], field),
    )


def _index_value(msg: dict[str, Any]) -> IndexValue:
    received = _int(msg["received_at"], "received_at")
    # The raw upstream frame carries the index's own value and time; the averages are Kalshi's.
    upstream = orjson.loads(_str(msg["data"], "data"))
    if not isinstance(upstream, dict):
        raise TypeError("data must be a JSON object")
    raw_value = upstream["value"]
    value = dec(raw_value if isinstance(raw_value, str) else str(raw_value), "data.value")
    source_ts = upstream.get("time", received)
    settle = msg.get("last_60s_windowed_average_15min")
    return IndexValue(
        index_id=_str(msg["index_id"], "index_id"),
        value=value,
        source_ts_ms=_int(source_ts, "data.time"),
        received_ms=received,
        avg_60s=_average(msg["avg_60s_data"], "avg_60s_data"),
        settle_avg=None if settle is None else _average(settle, "last_60s_windowed_average_15min"),
    )


def _lifecycle(msg: dict[str, Any]) -> LifecycleEvent:
    meta = msg.get("additional_metadata")
    strike_raw = msg.get("floor_strike")
    strike_type = msg.get("strike_type", "")
    if isinstance(meta, dict):
        strike_raw = meta.get("floor_strike", strike_raw)
        strike_type = meta.get("strike_type", strike_type)
    strike = None
    if strike_raw is not None:
        if isinstance(strike_raw, bool) or not isinstance(strike_raw, int | float | str):
            raise TypeError("floor_strike must be a number")
        strike = dec(str(strike_raw), "floor_strike")  # a JSON number: via its shortest text, not binary
    settlement = msg.get("settlement_value")
    deactivated = msg.get("is_deactivated")
    return LifecycleEvent(
        ticker=_str(msg["market_ticker"], "market_ticker"),
        event_type=_str(msg["event_type"], "event_type"),
        open_ts=_opt_int(msg, "open_ts"),
        close_ts=_opt_int(msg, "close_ts"),
        determination_ts=_opt_int(msg, "determination_ts"),
        settled_ts=_opt_int(msg, "settled_ts"),
        result=str(msg.get("result") or ""),
        settlement_value=None if settlement is None else dec(settlement, "settlement_value"),
        floor_strike=strike,
        strike_type=str(strike_type or ""),
        is_deactivated=deactivated if isinstance(deactivated, bool) else None,
    )


def _fee_update(msg: dict[str, Any]) -> FeeUpdate:
    mult = msg["fee_multiplier_override"]
    if mult is not None and (isinstance(mult, bool) or not isinstance(mult, int | float | str)):
        raise TypeError("fee_multiplier_override must be a number or null")
    fee_type = msg["fee_type_override"]
    return FeeUpdate(
        event_ticker=_str(msg["event_ticker"], "event_ticker"),
        fee_type=None if fee_type is None else _str(fee_type, "fee_type_override"),
        multiplier=None if mult is None else dec(str(mult), "fee_multiplier_override"),
    )


def _user_fill(msg: dict[str, Any]) -> UserFill:
    return UserFill(
        trade_id=_str(msg["trade_id"], "trade_id"),
        order_id=_str(msg["order_id"], "order_id"),
        client_order_id=str(msg.get("client_order_id") or ""),
        ticker=_str(msg["market_ticker"], "market_ticker"),
        side=_side(msg.get("outcome_side", msg.get("side")), "outcome_side"),
        yes_price=dec(msg["yes_price_dollars"], "yes_price_dollars"),
        count=dec(msg["count_fp"], "count_fp"),
        fee=dec(msg["fee_cost"], "fee_cost"),
        is_taker=bool(msg["is_taker"]),
        ts_ms=_int(msg["ts_ms"], "ts_ms"),
    )


def _user_order(msg: dict[str, Any]) -> UserOrderUpdate:
    return UserOrderUpdate(
        order_id=_str(msg["order_id"], "order_id"),
        client_order_id=str(msg.get("client_order_id") or ""),
        ticker=_str(msg["ticker"], "ticker"),
        status=_str(msg["status"], "status"),
        side=_side(msg.get("outcome_side", msg.get("side")), "outcome_side"),
        yes_price=dec(msg["yes_price_dollars"], "yes_price_dollars"),
        filled=dec(msg["fill_count_fp"], "fill_count_fp"),
        remaining=dec(msg["remaining_count_fp"], "remaining_count_fp"),
        initial=dec(msg["initial_count_fp"], "initial_count_fp"),
        taker_fees=dec(msg["taker_fees_dollars"], "taker_fees_dollars"),
        maker_fees=dec(msg["maker_fees_dollars"], "maker_fees_dollars"),
        updated_ms=_opt_int(msg, "last_updated_ts_ms"),
    )


def _order_group(msg: dict[str, Any]) -> OrderGroupUpdate:
    limit = msg.get("contracts_limit_fp")
    return OrderGroupUpdate(
        order_group_id=_str(msg["order_group_id"], "order_group_id"),
        event_type=_str(msg["event_type"], "event_type"),
        contracts_limit=None if limit is None else dec(limit, "contracts_limit_fp"),
        ts_ms=_opt_int(msg, "ts_ms"),
    )


def parse(raw: bytes | str) -> WsMessage | None:
    """One websocket message as a typed value; None for message types the bot does not use."""
    obj = orjson.loads(raw)
    if not isinstance(obj, dict):
        raise TypeError("a Kalshi message is a JSON object")
    kind = obj["type"]
    msg = obj.get("msg")
    if kind == "orderbook_delta":
        m = _obj(msg)
        return BookDelta(
            sid=_int(obj["sid"], "sid"),
            seq=_int(obj["seq"], "seq"),
            ticker=_str(m["market_ticker"], "market_ticker"),
            side=_side(m["side"], "side"),
            price=dec(m["price_dollars"], "price_dollars"),
            delta=dec(m["delta_fp"], "delta_fp"),
            ts_ms=_opt_int(m, "ts_ms"),
            client_order_id=str(m.get("client_order_id") or ""),
        )
    if kind == "orderbook_snapshot":
        m = _obj(msg)
        return BookSnapshot(
            sid=_int(obj["sid"], "sid"),
            seq=_int(obj["seq"], "seq"),
            ticker=_str(m["market_ticker"], "market_ticker"),
            yes=_levels(m.get("yes_dollars_fp"), "yes_dollars_fp"),
            no=_levels(m.get("no_dollars_fp"), "no_dollars_fp"),
        )
    if kind == "cfbenchmarks_value":
        return _index_value(_obj(msg))
    if kind == "trade":
        m = _obj(msg)
        return PublicTrade(
            sid=_int(obj["sid"], "sid"),
            seq=_opt_int(obj, "seq"),
            trade_id=_str(m["trade_id"], "trade_id"),
            ticker=_str(m["market_ticker"], "market_ticker"),
            yes_price=dec(m["yes_price_dollars"], "yes_price_dollars"),
            count=dec(m["count_fp"], "count_fp"),
            taker_side=_side(m.get("taker_outcome_side", m.get("taker_side")), "taker_outcome_side"),
            ts_ms=_int(m["ts_ms"], "ts_ms"),
        )
    if kind == "ticker":
        m = _obj(msg)
        return TickerUpdate(
            ticker=_str(m["market_ticker"], "market_ticker"),
            last_price=dec(m["price_dollars"], "price_dollars"),
            yes_bid=dec(m["yes_bid_dollars"], "yes_bid_dollars"),
            yes_ask=dec(m["yes_ask_dollars"], "yes_ask_dollars"),
            volume=dec(m["volume_fp"], "volume_fp"),
            ts_ms=_int(m["ts_ms"], "ts_ms"),
        )
    if kind == "market_lifecycle_v2":
        return _lifecycle(_obj(msg))
    if kind == "event_fee_update":
        return _fee_update(_obj(msg))
    if kind == "fill":
        return _user_fill(_obj(msg))
    if kind == "user_order":
        return _user_order(_obj(msg))
    if kind == "order_group_updates":
        return _order_group(_obj(msg))
    if kind == "subscribed":
        m = _obj(msg)
        return Subscribed(cmd_id=_int(obj.get("id", 0), "id"), channel=_str(m["channel"], "channel"),
                          sid=_int(m["sid"], "sid"))
    if kind in ("ok", "unsubscribed"):
        return CommandOk(cmd_id=_int(obj.get("id", 0), "id"), sid=_opt_int(obj, "sid"))
    if kind == "error":
        m = _obj(msg)
        return WsError(
            cmd_id=_opt_int(obj, "id"),
            sid=_opt_int(obj, "sid"),
            code=_int(m["code"], "code"),
            message=str(m.get("msg", ""))[:200],
            market_ticker=str(m.get("market_ticker") or ""),
        )
    return None


def _obj(msg: object) -> dict[str, Any]:
    if not isinstance(msg, dict):
        raise TypeError("msg must be an object")
    return msg


# -- client -> server ------------------------------------------------------------------------------


def subscribe_command(cmd_id: int, channels: tuple[str, ...], *, ticker: str = "", index_ids: tuple[str, ...] = ()
                      ) -> dict[str, Any]:
    """A subscribe command. Books ask for use_yes_price false explicitly: NO bids in NO-leg prices, the
    same convention as the REST order book (the default is announced to flip)."""
    params: dict[str, Any] = {"channels": list(channels)}
    if ticker:
        params["market_ticker"] = ticker
    if CH_BOOK in channels:
        params["use_yes_price"] = False
    if index_ids:
        params["index_ids"] = list(index_ids)
    return {"id": cmd_id, "cmd": "subscribe", "params": params}


def get_snapshot_command(cmd_id: int, sid: int, ticker: str) -> dict[str, Any]:
    """Ask for a fresh orderbook_snapshot of `ticker` on subscription `sid` (after a seq gap)."""
    return {"id": cmd_id, "cmd": "update_subscription",
            "params": {"sid": sid, "market_tickers": [ticker], "action": "get_snapshot"}}


def unsubscribe_command(cmd_id: int, sids: list[int]) -> dict[str, Any]:
    return {"id": cmd_id, "cmd": "unsubscribe", "params": {"sids": sids}}


def encode_command(command: dict[str, Any]) -> str:
    """A command as str, so websockets sends it as a TEXT frame (a strict server refuses binary JSON)."""
    return orjson.dumps(command).decode()
