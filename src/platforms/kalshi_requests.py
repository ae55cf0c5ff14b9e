"""Kalshi request building: validated tickers, ids, fixed-point amounts, the V2 order body and query strings."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

from src.model.models import ONE, ZERO, Side
from src.platforms.kalshi_errors import KalshiRequestError

TIME_IN_FORCE = frozenset({"fill_or_kill", "good_till_canceled", "immediate_or_cancel"})
SELF_TRADE_PREVENTION = frozenset({"taker_at_cross", "maker"})
_CLIENT_ORDER_ID = re.compile(r"^[\w\-:+=/]{1,64}$")
_COUNT_Q = Decimal("0.01")
_PRICE_Q = Decimal("0.0001")


def _fixed(value: Decimal, quantum: Decimal, what: str) -> str:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise KalshiRequestError(f"{what} must be a finite Decimal, got {value!r}")
    fixed = value.quantize(quantum)
    if fixed != value:
        raise KalshiRequestError(f"{what} {value} has more than {-quantum.as_tuple().exponent} decimal places")
    return f"{fixed:f}"


def check_ticker(ticker: str) -> str:
    if not isinstance(ticker, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", ticker):
        raise KalshiRequestError(f"not a Kalshi ticker: {str(ticker)[:40]!r}")
    return ticker


def path_id(value: str, what: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_:-]{1,100}", value):
        raise KalshiRequestError(f"not a Kalshi {what}: {str(value)[:40]!r}")
    return quote(value, safe="")


def order_body(
    ticker: str,
    side: Side,
    count: Decimal,
    price: Decimal,
    client_order_id: str,
    time_in_force: str = "fill_or_kill",
    self_trade_prevention_type: str = "taker_at_cross",
    *,
    order_group_id: str | None = None,
) -> dict[str, str]:
    """The V2 order request for BUYING `count` contracts of `side` at `price` (quoted on YES: NO at p = ask at 1-p)."""
    check_ticker(ticker)
    if not isinstance(side, Side):
        raise KalshiRequestError(f"side must be Side.YES or Side.NO, got {side!r}")
    if not isinstance(client_order_id, str) or not _CLIENT_ORDER_ID.fullmatch(client_order_id):
        raise KalshiRequestError("client_order_id must be 1-64 characters of letters, digits, - _ : + = /")
    if time_in_force not in TIME_IN_FORCE:
        raise KalshiRequestError(f"time_in_force must be one of {sorted(TIME_IN_FORCE)}, got {time_in_force!r}")
    if self_trade_prevention_type not in SELF_TRADE_PREVENTION:
        raise KalshiRequestError(f"self_trade_prevention_type must be one of {sorted(SELF_TRADE_PREVENTION)}")
    count_text = _fixed(count, _COUNT_Q, "count")
    if count <= 0 or count != count.to_integral_value():
        raise KalshiRequestError(f"count must be a positive whole number of contracts, got {count}")
    _fixed(price, _PRICE_Q, "price")
    if not ZERO < price < ONE:
        raise KalshiRequestError(f"price must be strictly between 0 and 1 dollars, got {price}")
    yes_price = price if side is Side.YES else ONE - price
    body = {
        "ticker": ticker,
        "client_order_id": client_order_id,
        "side": "bid" if side is Side.YES else "ask",
        "count": count_text,
        "price": _fixed(yes_price.quantize(_PRICE_Q), _PRICE_Q, "price"),
        "time_in_force": time_in_force,
        "self_trade_prevention_type": self_trade_prevention_type,
    }
    if order_group_id is not None:
        body["order_group_id"] = order_group_id
    return body


# Encoded query strings by their parameters: polling sends the same few queries over and over, and
# urlencode costs several µs. Only str keys with plain str/int values are remembered (the value's
# type is part of the key, so 1 and True never share an entry). Bounded: cleared when full.
_QUERIES: dict[tuple[tuple[str, type, Any], ...], str] = {}
_QUERIES_MAX = 256


def query_string(params: Mapping[str, Any]) -> str:
    """urlencode(params, doseq=True)."""
    if not all(type(k) is str and (type(v) is str or type(v) is int) for k, v in params.items()):
        return urlencode(params, doseq=True)
    key = tuple((k, type(v), v) for k, v in params.items())
    text = _QUERIES.get(key)
    if text is None:
        text = urlencode(params, doseq=True)
        if len(_QUERIES) >= _QUERIES_MAX:
            _QUERIES.clear()
        _QUERIES[key] = text
    return text

