"""Turn a Decimal price and size into a signed Polymarket CTF Exchange V2 order (EIP-712 `Order`, version 2)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from enum import IntEnum
from typing import Any

from src.auth.poly_wallet import PolyWallet

POLYGON_CHAIN_ID = 137
EXCHANGE_V2 = "0xE111180000d2663C0091e4f400237545B87B996B"
NEG_RISK_EXCHANGE_V2 = "0xe2222d279d744050d28e00520010520000310F59"
EXCHANGE_DOMAIN_NAME = "Polymarket CTF Exchange"
EXCHANGE_DOMAIN_VERSION = "2"
BYTES32_ZERO = "0x" + "00" * 32
TOKEN_DECIMALS = 6  # USDC and outcome tokens both have 6 decimals on Polygon
SIZE_DECIMALS = 2  # outcome-token sizes are accepted to 1/100 of a share
_UINT256_MAX = 2**256 - 1
# The server reads `salt` as a JSON number: stay inside the range a double holds exactly.
_SALT_LIMIT = 2**53

_ORDER_TYPES: dict[str, list[dict[str, str]]] = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
    ],
    "Order": [
        {"name": "salt", "type": "uint256"},
        {"name": "maker", "type": "address"},
        {"name": "signer", "type": "address"},
        {"name": "tokenId", "type": "uint256"},
        {"name": "makerAmount", "type": "uint256"},
        {"name": "takerAmount", "type": "uint256"},
        {"name": "side", "type": "uint8"},
        {"name": "signatureType", "type": "uint8"},
        {"name": "timestamp", "type": "uint256"},
        {"name": "metadata", "type": "bytes32"},
        {"name": "builder", "type": "bytes32"},
    ],
}

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_BYTES32 = re.compile(r"^0x[0-9a-fA-F]{64}$")


class OrderValueError(ValueError):
    """An order cannot be built as asked (off-tick price, zero size, bad token id ...)."""


class OrderSide(IntEnum):
    BUY = 0
    SELL = 1


class SignatureType(IntEnum):
    """Who signs: the EOA itself, or an EOA owning a Polymarket proxy / Gnosis-safe wallet (the funder)."""

    EOA = 0
    POLY_PROXY = 1
    POLY_GNOSIS_SAFE = 2


# Decimal places allowed for the price and for the USDC amount, per tick size (sizes: 2 places).
_TICK_RULES: dict[Decimal, tuple[int, int]] = {
    Decimal("0.1"): (1, 3),
    Decimal("0.01"): (2, 4),
    Decimal("0.005"): (3, 5),
    Decimal("0.0025"): (4, 6),
    Decimal("0.001"): (3, 5),
    Decimal("0.0001"): (4, 6),
}


@dataclass(frozen=True, slots=True)
class OrderAmounts:
    """What the maker gives and the taker gives back, in 6-decimal base units."""

    side: OrderSide
    maker_amount: int
    taker_amount: int


def _tick_rules(tick_size: Decimal) -> tuple[int, int]:
    rules = _TICK_RULES.get(Decimal(tick_size))
    if rules is None:
        raise OrderValueError(f"unknown tick size {tick_size} (known: {sorted(str(t) for t in _TICK_RULES)})")
    return rules


def _round_down(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_DOWN)


def to_base_units(value: Decimal) -> int:
    """Dollars or shares to 6-decimal integer units; refuses anything finer than 1e-6."""
    scaled = Decimal(value).scaleb(TOKEN_DECIMALS)
    if scaled != scaled.to_integral_value():
        raise OrderValueError(f"{value} has more than {TOKEN_DECIMALS} decimals")
    return int(scaled)


def check_price(price: Decimal, tick_size: Decimal) -> None:
    """A price must lie on the tick grid inside [tick, 1 - tick]."""
    _tick_rules(tick_size)
    if not isinstance(price, Decimal) or not price.is_finite():
        raise OrderValueError(f"price must be a finite Decimal, got {price!r}")
    if price < tick_size or price > 1 - tick_size:
        raise OrderValueError(f"price {price} outside [{tick_size}, {1 - tick_size}]")
    if price % tick_size != 0:
        raise OrderValueError(f"price {price} is not a multiple of the tick size {tick_size}")


def limit_order_amounts(side: OrderSide, price: Decimal, size: Decimal, tick_size: Decimal) -> OrderAmounts:
    """A limit order for `size` shares at `price`: size is cut to 2 decimals (never rounded up).

    BUY gives size*price USDC for size shares; SELL gives size shares for size*price USDC. With a
    price on the tick grid the product is exact, so no rounding is ever needed on the USDC side.
    """
    check_price(price, tick_size)
    shares = _round_down(_positive(size, "size"), SIZE_DECIMALS)
    if shares <= 0:
        raise OrderValueError(f"size {size} rounds down to zero shares")
    usdc = shares * price
    if side is OrderSide.BUY:
        return OrderAmounts(side, to_base_units(usdc), to_base_units(shares))
    return OrderAmounts(side, to_base_units(shares), to_base_units(usdc))


def market_order_amounts(side: OrderSide, amount: Decimal, price: Decimal, tick_size: Decimal) -> OrderAmounts:
    """A marketable (FOK/FAK) order: BUY spends `amount` dollars, SELL sells `amount` shares, at `price` worst.

    The exchange wants the spent side to 2 decimals; the received side is cut (never rounded up)
    to the tick's amount precision, so the order never asks for more than the price allows.
    """
    check_price(price, tick_size)
    _, amount_places = _tick_rules(tick_size)
    given = _round_down(_positive(amount, "amount"), SIZE_DECIMALS)
    if given <= 0:
        raise OrderValueError(f"amount {amount} rounds down to zero")
    received = given / price if side is OrderSide.BUY else given * price
    received = _round_down(received, amount_places)
    if received <= 0:
        raise OrderValueError(f"amount {amount} at {price} buys nothing")
    return OrderAmounts(side, to_base_units(given), to_base_units(received))


def _positive(value: Decimal, name: str) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
        raise OrderValueError(f"{name} must be a positive finite Decimal, got {value!r}")
    return value


def new_salt() -> int:
    """A random order salt that makes each order hash unique."""
    return secrets.randbelow(_SALT_LIMIT - 1) + 1


@dataclass(frozen=True, slots=True)
class OrderV2:
    """The fields of a CTF Exchange V2 order; `expiration` travels in JSON but is not signed."""

    salt: int
    maker: str
    signer: str
    token_id: int
    maker_amount: int
    taker_amount: int
    side: OrderSide
    signature_type: SignatureType
    timestamp_ms: int
    metadata: str = BYTES32_ZERO
    builder: str = BYTES32_ZERO
    expiration: int = 0

    def __post_init__(self) -> None:
        for name in ("maker", "signer"):
            if not _ADDRESS.match(getattr(self, name)):
                raise OrderValueError(f"{name} is not a 0x-prefixed 20-byte address")
        for name in ("metadata", "builder"):
            if not _BYTES32.match(getattr(self, name)):
                raise OrderValueError(f"{name} is not a 0x-prefixed 32-byte hex value")
        for name in ("salt", "token_id", "maker_amount", "taker_amount", "timestamp_ms", "expiration"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _UINT256_MAX:
                raise OrderValueError(f"{name} must be an unsigned 256-bit integer")
        if self.maker_amount == 0 or self.taker_amount == 0:
            raise OrderValueError("maker and taker amounts must be positive")


def parse_token_id(token_id: str) -> int:
    """Outcome token ids are decimal uint256 strings."""
    text = str(token_id).strip()
    if not text.isdigit():
        raise OrderValueError(f"token id must be a decimal integer string, got {text[:20]!r}")
    value = int(text)
    if value > _UINT256_MAX:
        raise OrderValueError("token id exceeds uint256")
    return value


def exchange_address(neg_risk: bool) -> str:
    """Neg-risk (multi-outcome) markets settle on their own V2 exchange contract."""
    return NEG_RISK_EXCHANGE_V2 if neg_risk else EXCHANGE_V2


def order_typed_data(order: OrderV2, chain_id: int = POLYGON_CHAIN_ID, neg_risk: bool = False) -> dict[str, Any]:
    """The EIP-712 typed data the exchange verifies for `order`."""
    return {
        "types": _ORDER_TYPES,
        "primaryType": "Order",
        "domain": {
            "name": EXCHANGE_DOMAIN_NAME,
            "version": EXCHANGE_DOMAIN_VERSION,
            "chainId": chain_id,
            "verifyingContract": exchange_address(neg_risk),
        },
        "message": {
            "salt": order.salt,
            "maker": order.maker,
            "signer": order.signer,
            "tokenId": order.token_id,
            "makerAmount": order.maker_amount,
            "takerAmount": order.taker_amount,
            "side": int(order.side),
            "signatureType": int(order.signature_type),
            "timestamp": order.timestamp_ms,
            "metadata": bytes.fromhex(order.metadata[2:]),
            "builder": bytes.fromhex(order.builder[2:]),
        },
    }


@dataclass(frozen=True, slots=True)
class SignedOrderV2:
    """An order plus its EIP-712 signature, ready to post."""

    order: OrderV2
    signature: str

    def to_payload(
        self, owner: str, order_type: str, post_only: bool = False, defer_exec: bool = False
    ) -> dict[str, Any]:
        """The body of `POST /order`; `owner` is the API key the order is posted under."""
        o = self.order
        return {
            "order": {
                "salt": o.salt,
                "maker": o.maker,
                "signer": o.signer,
                "tokenId": str(o.token_id),
                "makerAmount": str(o.maker_amount),
                "takerAmount": str(o.taker_amount),
                "side": o.side.name,
                "expiration": str(o.expiration),
                "signatureType": int(o.signature_type),
                "timestamp": str(o.timestamp_ms),
                "metadata": o.metadata,
                "builder": o.builder,
                "signature": self.signature,
            },
            "owner": owner,
            "orderType": order_type,
            "deferExec": defer_exec,
            "postOnly": post_only,
        }


def build_order(
    wallet: PolyWallet,
    token_id: str,
    amounts: OrderAmounts,
    timestamp_ms: int,
    signature_type: SignatureType = SignatureType.EOA,
    funder: str | None = None,
    salt: int | None = None,
    expiration: int = 0,
) -> OrderV2:
    """An unsigned order from `wallet` (the signer) for `funder` (the maker; the wallet itself for EOA)."""
    signature_type = SignatureType(signature_type)
    if signature_type is not SignatureType.EOA and not funder:
        raise OrderValueError("proxy and safe signature types need the funder (maker) address")
    return OrderV2(
        salt=new_salt() if salt is None else salt,
        maker=funder or wallet.address,
        signer=wallet.address,
        token_id=parse_token_id(token_id),
        maker_amount=amounts.maker_amount,
        taker_amount=amounts.taker_amount,
        side=amounts.side,
        signature_type=signature_type,
        timestamp_ms=timestamp_ms,
        expiration=expiration,
    )


def sign_order(
    wallet: PolyWallet, order: OrderV2, chain_id: int = POLYGON_CHAIN_ID, neg_risk: bool = False
) -> SignedOrderV2:
    """Sign `order` with `wallet`, which must be the order's signer."""
    if order.signer.lower() != wallet.address.lower():
        raise OrderValueError("the order's signer is not this wallet")
    return SignedOrderV2(order, wallet.sign_typed_data(order_typed_data(order, chain_id, neg_risk)))
