"""Polymarket US wire parsing: the venue's JSON answers into typed values (Decimal money, YES prices).

Facts (docs.polymarket.us, checked against the official SDK `polymarket-us` 2.4, a test-only oracle):
- One instrument per market: its YES ("long") side. Bids, offers, order prices and trade prices
  are YES prices; `side_price` turns one into what a contract of either side cost.
- Money arrives as {"value": "0.55", "currency": "USD"} (sometimes a JSON number; parsed
  straight to Decimal, never through float); quantities are strings.
- The book `{"marketData": {"bids": [{"px", "qty"}], "offers": [...], "state"}}` maps onto the
  shared OrderBook with the market slug as ticker: YES bids are `yes_bids`, each YES offer at p is
  a `no_bids` level at 1 - p, so `book.asks(Side.YES)` is what YES costs and `book.asks(Side.NO)`
  what NO costs, cheapest first, exactly as on Kalshi.
Every malformed answer raises PolyMalformedResponse naming what was wrong, never the payload.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from src.model.models import ONE, BookLevel, Market, OrderBook, Side, utc_from_ts
from src.net.poly_http import PolyMalformedResponse

SERVICE = "polymarket-us"
TERMINAL_STATES = frozenset({"ORDER_STATE_FILLED", "ORDER_STATE_CANCELED", "ORDER_STATE_REJECTED",
                             "ORDER_STATE_EXPIRED", "ORDER_STATE_REPLACED"})  # fmt: skip
TRADE_ACTIVITY = "ACTIVITY_TYPE_TRADE"
_FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)


def side_price(side: Side, yes_price: Decimal) -> Decimal:
    """What one contract of `side` cost, from the venue's YES price."""
    return yes_price if side is Side.YES else ONE - yes_price


def _bad(what: str) -> PolyMalformedResponse:
    return PolyMalformedResponse(SERVICE, 200, what)


def _obj(payload: Any, what: str) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise _bad(f"{what}: expected a JSON object")
    return payload


def _dec(value: Any, name: str) -> Decimal:
    if isinstance(value, dict):  # an Amount: {"value": ..., "currency": "USD"}
        currency = value.get("currency", "USD")
        if currency not in ("USD", "", None):
            raise _bad(f"{name} is in {currency!r}, not USD")
        value = value.get("value")
    if isinstance(value, bool) or value is None or value == "":
        raise _bad(f"{name} missing")
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise _bad(f"{name} is not a number") from None
    if not result.is_finite():
        raise _bad(f"{name} is not finite")
    return result


def _opt_dec(value: Any, name: str) -> Decimal | None:
    if value is None or value == "" or (isinstance(value, dict) and value.get("value") in (None, "")):
        return None
    return _dec(value, name)


def iso_ts(value: Any) -> float | None:
    """Epoch seconds of an RFC 3339 time ("2026-02-16T12:00:00.123456789Z"); None if absent or garbled."""
    if not isinstance(value, str) or not value:
        return None
    text = value.replace("Z", "+00:00")
    if "." in text:  # Python parses at most microseconds: cut nanoseconds
        head, _, tail = text.partition(".")
        digits = "".join(c for c in tail if c.isdigit())
        text = f"{head}.{digits[:6]}{tail[len(digits):]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


@dataclass(frozen=True, slots=True)
class UsMarketSide:
    """One side of a US market: `long` is the YES side; `description` names what it backs ("Chargers")."""

    long: bool
    description: str
    team_name: str = ""
    team_abbreviation: str = ""


@dataclass(frozen=True, slots=True)
class UsMarket:
    """`GET /v1/market/slug/{slug}` as the bot needs it."""

    slug: str
    question: str
    active: bool
    closed: bool
    sides: tuple[UsMarketSide, ...]
    market_type: str = ""
    game_start_ts: float | None = None
    end_ts: float | None = None

    @property
    def tradable(self) -> bool:
        return self.active and not self.closed


def market_from_payload(payload: Any) -> UsMarket:
    body = _obj(payload, "market")
    m = _obj(body.get("market", body), "market")
    slug = m.get("slug")
    if not isinstance(slug, str) or not slug:
        raise _bad("market has no slug")
    sides = []
    for raw in m.get("marketSides") or []:
        side = _obj(raw, "market side")
        team = side.get("team") if isinstance(side.get("team"), dict) else {}
        sides.append(UsMarketSide(
            long=side.get("long") is True,
            description=str(side.get("description") or ""),
            team_name=str(team.get("name") or ""),
            team_abbreviation=str(team.get("abbreviation") or ""),
        ))  # fmt: skip
    return UsMarket(
        slug=slug,
        question=str(m.get("question") or m.get("title") or ""),
        active=m.get("active") is True,
        closed=m.get("closed") is True,
        sides=tuple(sides),
        market_type=str(m.get("sportsMarketType") or m.get("marketType") or ""),
        game_start_ts=iso_ts(m.get("gameStartTime")),
        end_ts=iso_ts(m.get("endDate")),
    )


def book_from_payload(slug: str, payload: Any, fetched_at: float) -> tuple[OrderBook, str]:
    """`GET /v1/markets/{slug}/book` -> (OrderBook with YES bids and offers as NO bids, market state)."""
    data = _obj(_obj(payload, "book").get("marketData"), "book marketData")
    if str(data.get("marketSlug", slug)) != slug:
        raise _bad("book is for another market")

    def levels(key: str) -> list[BookLevel]:
        rows = data.get(key) or []
        if not isinstance(rows, list):
            raise _bad(f"book {key} is not a list")
        out = []
        for row in rows:
            r = _obj(row, f"book {key} level")
            price, count = _dec(r.get("px"), "px"), _dec(r.get("qty"), "qty")
            if not 0 < price < 1 or count <= 0:
                raise _bad(f"book {key} level {price} x {count} is out of range")
            out.append(BookLevel(price, count))
        return out

    bids = sorted(levels("bids"), key=lambda lv: lv.price)
    offers_as_no_bids = sorted((BookLevel(ONE - lv.price, lv.count) for lv in levels("offers")),
                               key=lambda lv: lv.price)  # fmt: skip
    return OrderBook(slug, tuple(bids), tuple(offers_as_no_bids), fetched_at), str(data.get("state") or "")


def settlement_result(payload: Any) -> str:
    """"yes" (long side paid $1), "no" (short side did), or "" (no settlement, or a split)."""
    body = _obj(payload, "settlement")
    value = body.get("settlement")
    if value is None or value == "":
        return ""
    price = _dec(value, "settlement")
    return "yes" if price == ONE else "no" if price == 0 else ""


@dataclass(frozen=True, slots=True)
class UsExecution:
    """One execution report of an order (`executions[]` of a create answer)."""

    exec_type: str
    last_shares: Decimal
    last_px: Decimal | None  # YES price
    order_state: str
    trade_id: str
    commission: Decimal


@dataclass(frozen=True, slots=True)
class UsOrder:
    """An order as the venue reports it (prices are YES prices)."""

    order_id: str
    slug: str
    intent: str
    state: str
    price: Decimal | None
    quantity: Decimal
    cum_quantity: Decimal
    avg_px: Decimal | None
    commission: Decimal
    create_ts: float | None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES


@dataclass(frozen=True, slots=True)
class UsOrderAck:
    """The answer to `POST /v1/orders`: the exchange's order id and any executions so far."""

    order_id: str
    executions: tuple[UsExecution, ...]


@dataclass(frozen=True, slots=True)
class UsTrade:
    """One of the account's trades (`ACTIVITY_TYPE_TRADE`); price is the YES price."""

    trade_id: str
    slug: str
    price: Decimal
    qty: Decimal
    create_ts: float | None
    is_aggressor: bool


@dataclass(frozen=True, slots=True)
class UsPosition:
    """Net YES contracts held in one market (negative: NO contracts)."""

    slug: str
    net: Decimal
    expired: bool


@dataclass(frozen=True, slots=True)
class UsBalance:
    current_balance: Decimal
    buying_power: Decimal
    currency: str


def order_from_payload(payload: Any) -> UsOrder:
    o = _obj(payload, "order")
    order_id = o.get("id")
    if not isinstance(order_id, str) or not order_id:
        raise _bad("order has no id")
    return UsOrder(
        order_id=order_id,
        slug=str(o.get("marketSlug") or ""),
        intent=str(o.get("intent") or ""),
        state=str(o.get("state") or ""),
        price=_opt_dec(o.get("price"), "price"),
        quantity=_dec(o.get("quantity", 0), "quantity"),
        cum_quantity=_dec(o.get("cumQuantity", 0), "cumQuantity"),
        avg_px=_opt_dec(o.get("avgPx"), "avgPx"),
        commission=_opt_dec(o.get("commissionNotionalTotalCollected"), "commission") or Decimal(0),
        create_ts=iso_ts(o.get("createTime") or o.get("insertTime")),
    )


def _execution(payload: Any) -> UsExecution:
    e = _obj(payload, "execution")
    order = e.get("order") if isinstance(e.get("order"), dict) else {}
    return UsExecution(
        exec_type=str(e.get("type") or ""),
        last_shares=_opt_dec(e.get("lastShares"), "lastShares") or Decimal(0),
        last_px=_opt_dec(e.get("lastPx"), "lastPx"),
        order_state=str(order.get("state") or ""),
        trade_id=str(e.get("tradeId") or ""),
        commission=_opt_dec(e.get("commissionNotionalCollected"), "commission") or Decimal(0),
    )


def ack_from_payload(payload: Any) -> UsOrderAck:
    body = _obj(payload, "create order")
    order_id = body.get("id")
    if not isinstance(order_id, str) or not order_id:
        raise _bad("create order answer has no id")
    rows = body.get("executions") or []
    if not isinstance(rows, list):
        raise _bad("executions is not a list")
    return UsOrderAck(order_id, tuple(_execution(r) for r in rows))


def trades_from_activities(payload: Any) -> tuple[list[UsTrade], str | None]:
    body = _obj(payload, "activities")
    rows = body.get("activities") or []
    if not isinstance(rows, list):
        raise _bad("activities is not a list")
    trades = []
    for row in rows:
        a = _obj(row, "activity")
        if a.get("type") != TRADE_ACTIVITY or not isinstance(a.get("trade"), dict):
            continue
        t = a["trade"]
        trades.append(UsTrade(
            trade_id=str(t.get("id") or ""),
            slug=str(t.get("marketSlug") or ""),
            price=_dec(t.get("price"), "trade price"),
            qty=abs(_dec(t.get("qtyDecimal") or t.get("qty"), "trade qty")),
            create_ts=iso_ts(t.get("createTime")),
            is_aggressor=t.get("isAggressor") is True,
        ))  # fmt: skip
    cursor = body.get("nextCursor")
    more = isinstance(cursor, str) and cursor and body.get("eof") is not True
    return trades, (cursor if more else None)


def positions_from_payload(payload: Any) -> tuple[dict[str, UsPosition], str | None]:
    body = _obj(payload, "positions")
    raw = body.get("positions") or {}
    if not isinstance(raw, dict):
        raise _bad("positions is not an object keyed by market")
    out = {}
    for slug, row in raw.items():
        p = _obj(row, "position")
        net = p.get("netPositionDecimal") if p.get("netPositionDecimal") not in (None, "") else p.get("netPosition")
        out[str(slug)] = UsPosition(str(slug), _dec(net if net is not None else 0, "netPosition"),
                                    p.get("expired") is True)  # fmt: skip
    cursor = body.get("nextCursor")
    more = isinstance(cursor, str) and cursor and body.get("eof") is not True
    return out, (cursor if more else None)


def balance_from_payload(payload: Any) -> UsBalance:
    rows = _obj(payload, "balances").get("balances")
    if not isinstance(rows, list) or not rows:
        raise _bad("balances is empty")
    b = _obj(rows[0], "balance")
    return UsBalance(_dec(b.get("currentBalance"), "currentBalance"),
                     _dec(b.get("buyingPower", b.get("currentBalance")), "buyingPower"),
                     str(b.get("currency") or "USD"))  # fmt: skip


def order_from_answer(payload: Any) -> UsOrder:
    """`GET /v1/order/{id}` -> the order it wraps ({"order": {...}})."""
    return order_from_payload(_obj(payload, "order").get("order"))


def orders_from_payload(payload: Any) -> list[UsOrder]:
    """`GET /v1/orders/open` -> its orders."""
    rows = _obj(payload, "open orders").get("orders") or []
    if not isinstance(rows, list):
        raise _bad("orders is not a list")
    return [order_from_payload(r) for r in rows]


def canceled_count(payload: Any) -> int:
    """`POST /v1/orders/open/cancel` -> how many orders it canceled."""
    ids = _obj(payload, "cancel all").get("canceledOrderIds") or []
    return len(ids) if isinstance(ids, list) else 0


def open_slugs_from_payload(payload: Any) -> list[str]:
    """`GET /v1/markets` -> the slugs it lists (rows without a slug are skipped)."""
    rows = _obj(payload, "markets").get("markets") or []
    if not isinstance(rows, list):
        raise _bad("markets is not a list")
    return [str(r["slug"]) for r in rows if isinstance(r, dict) and isinstance(r.get("slug"), str) and r["slug"]]


def shared_market(us: UsMarket, result: str) -> Market:
    """The shared Market for a US market; `result` is settlement_result's answer ("" while unsettled)."""
    return Market(
        ticker=us.slug, event_ticker=us.slug, status="open" if us.tradable else "closed",
        open_time=utc_from_ts(us.game_start_ts or 0), close_time=utc_from_ts(us.end_ts) if us.end_ts
        else _FAR_FUTURE, floor_strike=None, result=result,
    )  # fmt: skip
