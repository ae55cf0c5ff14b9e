"""Polymarket US request building: each call's validated method, path, query and JSON body, ready to sign and send.

Facts (docs.polymarket.us, checked against the official SDK `polymarket-us` 2.4, a test-only oracle):
- Public market data on the gateway: `GET /v1/markets`, `/v1/market/slug/{slug}`,
  `/v1/markets/{slug}/book`, `/v1/markets/{slug}/settlement`.
- Signed calls on the API host (signing: src/auth/poly_us_auth.py): `POST /v1/orders`,
  `GET /v1/order/{id}`, `GET /v1/orders/open`, `POST /v1/order/{id}/cancel`,
  `POST /v1/orders/open/cancel`, `GET /v1/portfolio/positions`, `GET /v1/portfolio/activities`,
  `GET /v1/account/balances`.
- An order's price is ALWAYS the YES price (docs "Orders": buying NO at $0.40 is selling YES at
  $0.60). ORDER_INTENT_BUY_LONG buys YES, ORDER_INTENT_BUY_SHORT buys NO.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from src.model.models import ONE, Side
from src.platforms.polymarket_us_wire import TRADE_ACTIVITY

BUY_LONG = "ORDER_INTENT_BUY_LONG"
BUY_SHORT = "ORDER_INTENT_BUY_SHORT"
LIMIT = "ORDER_TYPE_LIMIT"
TIF = {"fill_or_kill": "TIME_IN_FORCE_FILL_OR_KILL", "immediate_or_cancel": "TIME_IN_FORCE_IMMEDIATE_OR_CANCEL"}


@dataclass(frozen=True, slots=True)
class UsRequest:
    """One call: public ones go unsigned to the gateway, the rest signed to the API host.

    `order` marks order creation, the one call never retried after it may have reached the venue.
    """

    method: str
    path: str
    params: Mapping[str, str] | None = None
    body: Mapping[str, Any] | None = None
    signed: bool = True
    order: bool = False

    def body_text(self) -> str | None:
        """The body's bytes exactly as the official SDK's httpx serializes them (so signatures and bytes match)."""
        if self.body is None:
            return None
        return json.dumps(self.body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)



def _seg(value: str) -> str:
    """One path segment, percent-encoded: a slug or id holding "/" or "?" can never reach another endpoint."""
    return quote(str(value), safe="")

def intent_for(side: Side) -> str:
    """Buying YES is BUY_LONG, buying NO is BUY_SHORT."""
    return BUY_LONG if side is Side.YES else BUY_SHORT


def wire_price(side: Side, price: Decimal) -> Decimal:
    """The price an order carries: always the YES price, so a NO buy at q is sent as 1 - q."""
    return price if side is Side.YES else ONE - price


# ------------------------------------------------------------------ public market data


def open_markets(limit: int) -> UsRequest:
    return UsRequest("GET", "/v1/markets", {"limit": str(limit), "active": "true", "closed": "false"}, signed=False)


def market(slug: str) -> UsRequest:
    return UsRequest("GET", f"/v1/market/slug/{_seg(slug)}", signed=False)


def book(slug: str) -> UsRequest:
    return UsRequest("GET", f"/v1/markets/{_seg(slug)}/book", signed=False)


def settlement(slug: str) -> UsRequest:
    return UsRequest("GET", f"/v1/markets/{_seg(slug)}/settlement", signed=False)


# ------------------------------------------------------------------ signed


def balances() -> UsRequest:
    return UsRequest("GET", "/v1/account/balances")


def create_order(slug: str, side: Side, price: Decimal, quantity: Decimal, time_in_force: str) -> UsRequest:
    """One limit BUY of `quantity` contracts of `side` at most `price` (the side's own price)."""
    if time_in_force not in TIF:
        raise ValueError(f"time_in_force must be one of {sorted(TIF)}, got {time_in_force!r}")
    if quantity <= 0 or quantity != quantity.to_integral_value():
        raise ValueError(f"quantity must be a positive whole number, got {quantity}")
    if not 0 < price < 1:
        raise ValueError(f"price must be between 0 and 1 exclusive, got {price}")
    body = {  # key order of the SDK README's example: the same bytes as the SDK sends
        "marketSlug": slug,
        "intent": intent_for(side),
        "type": LIMIT,
        "price": {"value": str(wire_price(side, price)), "currency": "USD"},
        "quantity": int(quantity),
        "tif": TIF[time_in_force],
    }
    return UsRequest("POST", "/v1/orders", body=body, order=True)


def get_order(order_id: str) -> UsRequest:
    return UsRequest("GET", f"/v1/order/{_seg(order_id)}")


def open_orders(slug: str | None) -> UsRequest:
    return UsRequest("GET", "/v1/orders/open", {"slugs": slug} if slug else None)


def cancel_order(order_id: str, slug: str) -> UsRequest:
    return UsRequest("POST", f"/v1/order/{_seg(order_id)}/cancel", body={"marketSlug": slug})


def cancel_all() -> UsRequest:
    return UsRequest("POST", "/v1/orders/open/cancel", body={})


def positions(slug: str | None, cursor: str | None) -> UsRequest:
    params = {k: v for k, v in (("market", slug), ("cursor", cursor)) if v}
    return UsRequest("GET", "/v1/portfolio/positions", params or None)


def trade_activities(slug: str, cursor: str | None) -> UsRequest:
    """One page of the account's trades in `slug`, newest first."""
    params = {"marketSlug": slug, "types": TRADE_ACTIVITY, "sortOrder": "SORT_ORDER_DESCENDING"}
    if cursor:
        params["cursor"] = cursor
    return UsRequest("GET", "/v1/portfolio/activities", params)
