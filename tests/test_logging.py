"""Log redaction: secrets never reach any handler or the trade log, whichever module logs them."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from src.journal.log_setup import redact, register_secret, setup_logging
from src.journal.trade_log import TradeLog, TradeLogError


def test_private_key_api_key_id_and_signatures_are_redacted(rsa_private_key, tmp_path: Path, capsys) -> None:
    pem = rsa_private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    key_id = "3f2b1c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d"
    signature = "ZwAdJKvoYRlEKDkNMwd5BuwNNtg93kNaR_oU2HrfVvc="
    setup_logging(tmp_path, "INFO")
    log = logging.getLogger("some.module")
    log.warning("key %s id %s", pem, key_id)
    log.error("headers {'KALSHI-ACCESS-SIGNATURE': 'abc123'} sig=%s", signature)
    try:
        raise RuntimeError(f"failed with secret={signature}")
    except RuntimeError:
        log.exception("traceback")
    err = capsys.readouterr().err
    on_disk = (tmp_path / "logs" / "errors" / "errors.log").read_text()
    for text in (err, on_disk):
        assert "PRIVATE KEY-----\nMII" not in text and pem.splitlines()[1] not in text
        assert key_id not in text and signature not in text and "abc123" not in text
        assert "[REDACTED" in text
    assert "RuntimeError" in on_disk  # the traceback still arrives, minus the secret
    assert "Traceback" in on_disk and "Traceback" not in err  # people get one line on the console
    assert "traceback in logs/errors/" in err


def test_registered_secret_is_removed_everywhere(registered_secrets: set[str]) -> None:
    register_secret("my-passphrase-value")
    assert "my-passphrase-value" not in redact("x my-passphrase-value y", uuids=False)
    assert "my-passphrase-value" in registered_secrets  # this test's own registry, dropped when it ends


def test_a_secret_registered_by_another_test_is_forgotten() -> None:
    # The test above registered this value; its registry went with it, so plain text stays plain.
    assert redact("x my-passphrase-value y", uuids=False) == "x my-passphrase-value y"


def test_paths_and_prices_survive_redaction() -> None:
    url = "Kalshi GET /trade-api/v2/markets/KXBTC15M-26APR271445-45/orderbook failed"
    assert redact(url) == url
    text = "/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages/aiohttp/client.py price 0.5600"
    assert redact(text) == text
    assert redact("client_order_id pb0123456789abcdef0123456789abcdef") == (
        "client_order_id pb0123456789abcdef0123456789abcdef"
    )


def test_trade_log_is_jsonl_per_utc_day(tmp_path: Path) -> None:
    log = TradeLog(tmp_path / "trades")
    day1 = log.write("fill", ts=1_777_334_399.0, ticker="T", price="0.41")  # 2026-04-27 23:59:59 UTC
    day2 = log.write("fill", ts=1_777_334_400.0, ticker="T", price="0.42")
    assert day1.name == "2026-04-27.jsonl" and day2.name == "2026-04-28.jsonl"
    record = json.loads(day1.read_text().strip())
    assert record["event"] == "fill" and record["price"] == "0.41"


def test_trade_log_refuses_loudly_when_it_cannot_write(tmp_path: Path) -> None:
    target = tmp_path / "trades"
    target.write_text("a file where the directory should be")
    with pytest.raises(TradeLogError, match="cannot write trade log"):
        TradeLog(target).write("fill", ts=1.0)
