"""The Polymarket gate: with platforms.polymarket.enabled false nothing is built and no socket opens."""

from __future__ import annotations

import socket
from decimal import Decimal
from pathlib import Path

import pytest
from eth_account import Account

import src.app.poly_components as factory
from src.app.poly_components import PolymarketComponents, PolymarketSetupError, build_polymarket
from src.config import AppConfig, Secrets, Settings, UserConfig, load_app_config

REPO = Path(__file__).resolve().parent.parent


class NetworkTouched(AssertionError):
    pass


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to resolve or connect fails the test."""

    def refuse(*_a, **_k):
        raise NetworkTouched("a socket was used")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def key_hex() -> str:
    return "0x" + bytes(Account.create().key).hex()  # throwaway, made at test time


def settings(enabled: bool, secrets: dict[str, str] | None = None, signature_type: int = 0) -> Settings:
    app = AppConfig.model_validate(
        {"platforms": {"polymarket": {"enabled": enabled, "signature_type": signature_type}}}
    )
    return Settings(app, UserConfig(starting_bankroll_usd=Decimal("100")), Secrets(secrets or {}), REPO)


FULL = {
    "POLY_API_KEY": "key-123456",
    "POLY_API_SECRET": "c2VjcmV0LXNlY3JldC1zZWNyZXQ=",
    "POLY_API_PASSPHRASE": "pass-98765",
}


def test_shipped_config_keeps_polymarket_disabled():
    assert load_app_config(REPO / "config.yaml").platforms.polymarket.enabled is False
    assert AppConfig().platforms.polymarket.enabled is False


def test_disabled_builds_nothing_even_with_keys(monkeypatch, no_network):
    def forbidden(*_a, **_k):
        raise AssertionError("constructed while disabled")

    for name in ("PolymarketClient", "WhaleTracker", "WhaleCopyStrategy", "ApiCreds"):
        monkeypatch.setattr(factory, name, forbidden)
    monkeypatch.setattr(factory.PolyWallet, "from_private_key", forbidden)
    assert build_polymarket(settings(False, {"POLY_PRIVATE_KEY": key_hex(), **FULL})) is None
    assert build_polymarket(settings(False)) is None


def test_disabled_never_reads_the_secrets():
    class Spy(Secrets):
        def get(self, key: str) -> str | None:
            raise AssertionError(f"{key} read while disabled")

    s = settings(False)
    spied = Settings(s.app, s.user, Spy({}), s.root)
    assert build_polymarket(spied) is None


async def test_enabled_builds_components_without_opening_anything(no_network):
    built = build_polymarket(settings(True, {"POLY_PRIVATE_KEY": key_hex(), **FULL}))
    assert isinstance(built, PolymarketComponents)
    assert built.client.has_creds
    assert built.strategy.name == "whale_copy"
    assert built.tracker.whales == ()
    await built.close()  # nothing was opened, so nothing to close over the network


def test_enabled_without_api_creds_is_allowed(no_network):
    built = build_polymarket(settings(True, {"POLY_PRIVATE_KEY": key_hex()}))
    assert built is not None and not built.client.has_creds


@pytest.mark.parametrize(
    ("secrets", "signature_type", "match"),
    [
        ({}, 0, "POLY_PRIVATE_KEY is missing"),
        ({"POLY_PRIVATE_KEY": "0x1234"}, 0, "not a valid"),
        ({"POLY_PRIVATE_KEY": "KEY", "POLY_API_KEY": "k-123456"}, 0, "POLY_API_SECRET, POLY_API_PASSPHRASE"),
        ({"POLY_PRIVATE_KEY": "KEY", **FULL, "POLY_API_SECRET": "***"}, 0, "base64"),
        ({"POLY_PRIVATE_KEY": "KEY"}, 1, "POLY_FUNDER_ADDRESS"),
    ],
)
def test_enabled_with_bad_keys_gives_one_clear_line(secrets, signature_type, match, no_network):
    secrets = {k: (key_hex() if v == "KEY" else v) for k, v in secrets.items()}
    with pytest.raises(PolymarketSetupError, match=match) as info:
        build_polymarket(settings(True, secrets, signature_type))
    message = str(info.value)
    assert "\n" not in message
    for value in secrets.values():
        if len(value) > 8:
            assert value not in message
