"""Polymarket L1/L2 auth and V2 order signing, checked against public vectors and py-clob-client-v2."""

from __future__ import annotations

import copy
import json
import pickle
from decimal import Decimal

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from py_clob_client_v2.clob_types import ApiCreds as RefCreds
from py_clob_client_v2.clob_types import RequestArgs

# Test-only oracle: the official client. src/ never imports it.
from py_clob_client_v2.headers.headers import create_level_1_headers, create_level_2_headers
from py_clob_client_v2.order_builder.builder import ROUNDING_CONFIG, OrderBuilder
from py_clob_client_v2.order_utils.exchange_order_builder_v2 import ExchangeOrderBuilderV2
from py_clob_client_v2.order_utils.model.order_data_v2 import OrderDataV2, order_to_json_v2
from py_clob_client_v2.order_utils.model.side import Side as RefSide
from py_clob_client_v2.signer import Signer as RefSigner
from py_clob_client_v2.signing.hmac import build_hmac_signature as ref_hmac

from src.auth.poly_auth import (
    POLY_API_KEY,
    POLY_PASSPHRASE,
    POLY_SIGNATURE,
    SENSITIVE_HEADERS,
    ApiCreds,
    build_hmac_signature,
    clob_auth_typed_data,
    l1_headers,
    l2_headers,
)
from src.auth.poly_order_signing import (
    BYTES32_ZERO,
    EXCHANGE_V2,
    NEG_RISK_EXCHANGE_V2,
    OrderSide,
    OrderValueError,
    SignatureType,
    build_order,
    limit_order_amounts,
    market_order_amounts,
    order_typed_data,
    sign_order,
    to_base_units,
)
from src.auth.poly_wallet import PolyAuthError, PolyWallet

TOKEN = str(7 * 10**76 + 1_321_045)  # outcome token ids are ~77-digit uint256 decimals
VECTOR_SECRET = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


@pytest.fixture(scope="module")
def account():
    # Generated at test time: no key-shaped string is ever committed.
    return Account.create()


@pytest.fixture(scope="module")
def wallet(account) -> PolyWallet:
    return PolyWallet(account)


@pytest.fixture(scope="module")
def ref_signer(account) -> RefSigner:
    return RefSigner("0x" + bytes(account.key).hex(), 137)


def _random_creds() -> ApiCreds:
    import base64
    import os

    return ApiCreds("key-" + os.urandom(4).hex(), base64.urlsafe_b64encode(os.urandom(32)).decode(), "pp")


# ---------------------------------------------------------------- L2 HMAC


def test_hmac_matches_public_reference_vector():
    # The reference serialises a body dict as str(dict) with ' -> ", which for this dict is
    # byte-identical to json.dumps' default separators: that exact string is what gets signed.
    body = json.dumps({"hash": "0x123"})
    assert body == '{"hash": "0x123"}'
    sig = build_hmac_signature(VECTOR_SECRET, 1000000, "test-sign", "/orders", body)
    assert sig == "ZwAdJKvoYRlEKDkNMwd5BuwNNtg93kNaR_oU2HrfVvc="


def test_hmac_signs_the_exact_wire_body():
    compact = json.dumps({"hash": "0x123"}, separators=(",", ":"))
    spaced = json.dumps({"hash": "0x123"})
    a = build_hmac_signature(VECTOR_SECRET, 1000000, "POST", "/order", compact)
    b = build_hmac_signature(VECTOR_SECRET, 1000000, "POST", "/order", spaced)
    assert a != b
    assert a == ref_hmac(VECTOR_SECRET, "1000000", "POST", "/order", compact)


def test_hmac_without_body_matches_oracle():
    assert build_hmac_signature(VECTOR_SECRET, 1700000000, "GET", "/data/orders", None) == ref_hmac(
        VECTOR_SECRET, 1700000000, "GET", "/data/orders"
    )


def test_l2_headers_match_oracle(wallet, ref_signer):
    creds = _random_creds()
    body = '{"orderID":"0xabc"}'
    ours = l2_headers(wallet.address, creds, 1712345678, "DELETE", "/order", body)
    theirs = create_level_2_headers(
        ref_signer,
        RefCreds(creds.api_key, creds.secret, creds.passphrase),
        RequestArgs(method="DELETE", request_path="/order", serialized_body=body),
        timestamp=1712345678,
    )
    assert ours == theirs


def test_bad_secret_is_refused_without_echoing_it():
    with pytest.raises(PolyAuthError) as info:
        ApiCreds("k", "not*base64*at*all", "p")
    assert "not*base64" not in str(info.value)
    with pytest.raises(PolyAuthError):
        ApiCreds("k", "", "p")


def test_creds_never_show_in_repr_str_or_format():
    creds = _random_creds()
    for text in (repr(creds), str(creds), f"{creds}", repr([creds]), repr({"c": creds})):
        assert creds.secret not in text
        assert creds.api_key not in text
        assert creds.passphrase not in text


def test_creds_from_response_and_missing_field():
    creds = _random_creds()
    got = ApiCreds.from_response({"apiKey": creds.api_key, "secret": creds.secret, "passphrase": "pp"})
    assert got == creds
    with pytest.raises(PolyAuthError, match="passphrase"):
        ApiCreds.from_response({"apiKey": "k", "secret": creds.secret})
    with pytest.raises(PolyAuthError):
        ApiCreds.from_response(["nope"])


def test_sensitive_headers_named():
    assert {POLY_SIGNATURE, POLY_API_KEY, POLY_PASSPHRASE} == SENSITIVE_HEADERS


# ---------------------------------------------------------------- L1 ClobAuth


@pytest.mark.parametrize(("ts", "nonce", "chain"), [(1700000000, 0, 137), (1, 7, 137), (1800000000, 0, 80002)])
def test_l1_headers_match_oracle(wallet, account, ts, nonce, chain):
    ref = RefSigner("0x" + bytes(account.key).hex(), chain)
    assert l1_headers(wallet, chain, ts, nonce) == create_level_1_headers(ref, nonce=nonce, timestamp=ts)


def test_l1_signature_recovers_to_wallet(wallet):
    headers = l1_headers(wallet, 137, 1700000000, 0)
    typed = clob_auth_typed_data(wallet.address, 1700000000, 0, 137)
    assert typed["domain"] == {"name": "ClobAuthDomain", "version": "1", "chainId": 137}
    signer = Account.recover_message(encode_typed_data(full_message=typed), signature=headers[POLY_SIGNATURE])
    assert signer == wallet.address


def test_l1_negative_nonce_refused(wallet):
    with pytest.raises(PolyAuthError):
        l1_headers(wallet, 137, 1, -1)


# ---------------------------------------------------------------- wallet hygiene


def test_wallet_hides_key(account, wallet):
    key_hex = bytes(account.key).hex()
    for text in (repr(wallet), str(wallet), f"{wallet!r}"):
        assert key_hex not in text
        assert wallet.address in text
    with pytest.raises(TypeError):
        pickle.dumps(wallet)
    with pytest.raises(TypeError):
        copy.deepcopy(wallet)


def test_bad_private_key_message_is_clean():
    bad = "0x" + "zz" * 32
    with pytest.raises(PolyAuthError) as info:
        PolyWallet.from_private_key(bad)
    assert "zz" not in str(info.value)
    assert info.value.__cause__ is None
    with pytest.raises(PolyAuthError):
        PolyWallet.from_private_key("")


def test_wallet_from_private_key_roundtrip(account):
    assert PolyWallet.from_private_key("0x" + bytes(account.key).hex()).address == account.address


# ---------------------------------------------------------------- V2 order signing


def _ref_order(ref_signer, exchange, salt, maker, signer, amounts, ts, sig_type, chain=137):
    builder = ExchangeOrderBuilderV2(exchange, chain, ref_signer, generate_salt=lambda: str(salt))
    return builder.build_signed_order(
        OrderDataV2(
            maker=maker,
            tokenId=TOKEN,
            makerAmount=str(amounts.maker_amount),
            takerAmount=str(amounts.taker_amount),
            side=RefSide(int(amounts.side)),
            signer=signer,
            signatureType=sig_type,
            timestamp=str(ts),
        )
    )


@pytest.mark.parametrize(
    ("side", "price", "size", "tick", "neg_risk", "sig_type"),
    [
        (OrderSide.BUY, "0.57", "12.345", "0.01", False, SignatureType.EOA),
        (OrderSide.SELL, "0.43", "100", "0.01", False, SignatureType.EOA),
        (OrderSide.BUY, "0.123", "5", "0.001", True, SignatureType.EOA),
        (OrderSide.BUY, "0.5", "7.5", "0.1", False, SignatureType.POLY_PROXY),
        (OrderSide.SELL, "0.0125", "40", "0.0025", False, SignatureType.POLY_GNOSIS_SAFE),
    ],
)
def test_order_signature_matches_oracle(wallet, ref_signer, side, price, size, tick, neg_risk, sig_type):
    amounts = limit_order_amounts(side, Decimal(price), Decimal(size), Decimal(tick))
    funder = None if sig_type is SignatureType.EOA else Account.create().address
    order = build_order(wallet, TOKEN, amounts, 1777000000123, sig_type, funder=funder, salt=987654321)
    signed = sign_order(wallet, order, 137, neg_risk)
    exchange = NEG_RISK_EXCHANGE_V2 if neg_risk else EXCHANGE_V2
    ref = _ref_order(
        ref_signer, exchange, 987654321, funder or wallet.address, wallet.address, amounts, 1777000000123, sig_type
    )
    assert signed.signature == ref.signature
    assert signed.to_payload("api-key", "GTC") == order_to_json_v2(ref, "api-key", "GTC")
    assert signed.to_payload("k", "FOK", defer_exec=True) == order_to_json_v2(ref, "k", "FOK", False, True)


def test_order_signature_recovers_and_domain_is_v2(wallet):
    amounts = limit_order_amounts(OrderSide.BUY, Decimal("0.40"), Decimal("10"), Decimal("0.01"))
    order = build_order(wallet, TOKEN, amounts, 1777000000000, salt=1)
    typed = order_typed_data(order)
    assert typed["domain"] == {
        "name": "Polymarket CTF Exchange",
        "version": "2",
        "chainId": 137,
        "verifyingContract": "0xE111180000d2663C0091e4f400237545B87B996B",
    }
    signed = sign_order(wallet, order)
    assert Account.recover_message(encode_typed_data(full_message=typed), signature=signed.signature) == (
        wallet.address
    )
    assert order.metadata == order.builder == BYTES32_ZERO


def test_sign_refuses_foreign_signer(wallet):
    other = PolyWallet(Account.create())
    amounts = limit_order_amounts(OrderSide.BUY, Decimal("0.40"), Decimal("10"), Decimal("0.01"))
    order = build_order(other, TOKEN, amounts, 1, salt=1)
    with pytest.raises(OrderValueError):
        sign_order(wallet, order)


def test_proxy_without_funder_refused(wallet):
    amounts = limit_order_amounts(OrderSide.BUY, Decimal("0.40"), Decimal("10"), Decimal("0.01"))
    with pytest.raises(OrderValueError, match="funder"):
        build_order(wallet, TOKEN, amounts, 1, SignatureType.POLY_PROXY)


def test_salts_differ(wallet):
    amounts = limit_order_amounts(OrderSide.BUY, Decimal("0.40"), Decimal("10"), Decimal("0.01"))
    salts = {build_order(wallet, TOKEN, amounts, 1).salt for _ in range(20)}
    assert len(salts) == 20
    assert all(0 < s < 2**53 for s in salts)


# ---------------------------------------------------------------- amounts


@pytest.mark.parametrize("tick", ["0.1", "0.01", "0.001", "0.0001"])
@pytest.mark.parametrize("side", [OrderSide.BUY, OrderSide.SELL])
def test_limit_amounts_match_oracle_on_a_grid(tick, side):
    ref = OrderBuilder(signer=None)
    config = ROUNDING_CONFIG[tick]
    t = Decimal(tick)
    prices = [t * k for k in (1, 3, 7, 10) if t * k <= 1 - t] + [Decimal(1) - t * 3, Decimal(1) - t]
    for price in prices:
        for size in ("5", "12.34", "0.01", "1000", "33.333", "7.77"):
            ours = limit_order_amounts(side, price, Decimal(size), t)
            _, maker, taker = ref.get_order_amounts(side.name, float(size), float(price), config)
            assert (ours.maker_amount, ours.taker_amount) == (maker, taker), (price, size)


@pytest.mark.parametrize("tick", ["0.01", "0.001"])
@pytest.mark.parametrize("side", [OrderSide.BUY, OrderSide.SELL])
def test_market_amounts_match_oracle_on_a_grid(tick, side):
    ref = OrderBuilder(signer=None)
    config = ROUNDING_CONFIG[tick]
    t = Decimal(tick)
    for price in (t * 7, Decimal("0.33"), Decimal("0.5"), Decimal("0.97")):
        for amount in ("5", "10", "12.34", "100", "3.33"):
            ours = market_order_amounts(side, Decimal(amount), price, t)
            _, maker, taker = ref.get_market_order_amounts(side.name, float(amount), float(price), config)
            assert (ours.maker_amount, ours.taker_amount) == (maker, taker), (price, amount)


def test_amount_errors_are_clear():
    tick = Decimal("0.01")
    with pytest.raises(OrderValueError, match="multiple of the tick"):
        limit_order_amounts(OrderSide.BUY, Decimal("0.555"), Decimal("1"), tick)
    with pytest.raises(OrderValueError, match="outside"):
        limit_order_amounts(OrderSide.BUY, Decimal("1.00"), Decimal("1"), tick)
    with pytest.raises(OrderValueError, match="rounds down to zero"):
        limit_order_amounts(OrderSide.BUY, Decimal("0.50"), Decimal("0.009"), tick)
    with pytest.raises(OrderValueError, match="tick size"):
        limit_order_amounts(OrderSide.BUY, Decimal("0.50"), Decimal("1"), Decimal("0.02"))
    with pytest.raises(OrderValueError):
        limit_order_amounts(OrderSide.BUY, 0.5, Decimal("1"), tick)  # type: ignore[arg-type]
    with pytest.raises(OrderValueError):
        limit_order_amounts(OrderSide.BUY, Decimal("0.5"), Decimal("-1"), tick)
    with pytest.raises(OrderValueError):
        to_base_units(Decimal("0.0000001"))
    assert to_base_units(Decimal("1.5")) == 1_500_000


def test_bad_token_id_refused(wallet):
    amounts = limit_order_amounts(OrderSide.BUY, Decimal("0.40"), Decimal("10"), Decimal("0.01"))
    for bad in ("0xabc", "-1", "", str(2**256)):
        with pytest.raises(OrderValueError):
            build_order(wallet, bad, amounts, 1, salt=1)
