"""Tests for Kalshi request signing: message format, RSA-PSS signatures, key loading errors, no secret leaks."""

from __future__ import annotations

import base64
import logging
import pickle
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from src.auth.kalshi_auth import (
    HEADER_KEY,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    KalshiAuth,
    KalshiAuthError,
    load_private_key,
    signing_message,
)

PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)


def verify(public_key: rsa.RSAPublicKey, signature_b64: str, message: bytes) -> None:
    public_key.verify(base64.b64decode(signature_b64, validate=True), message, PSS, hashes.SHA256())


def pem_text(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


# ---------------------------------------------------------------- message format


def test_message_is_timestamp_method_path_without_query() -> None:
    assert signing_message(1_700_000_000_123, "get", "/trade-api/v2/portfolio/orders?status=resting&limit=5") == (
        b"1700000000123GET/trade-api/v2/portfolio/orders"
    )
    assert signing_message(5, "DELETE", "/trade-api/v2/portfolio/events/orders/abc") == (
        b"5DELETE/trade-api/v2/portfolio/events/orders/abc"
    )


@pytest.mark.parametrize(
    ("ts", "method", "path"),
    [
        (0, "GET", "/trade-api/v2/x"),
        (1.5, "GET", "/trade-api/v2/x"),
        (True, "GET", "/trade-api/v2/x"),
        (1, "", "/trade-api/v2/x"),
        (1, "GET /x", "/trade-api/v2/x"),
        (1, "GET", "/portfolio/balance"),  # must start at /trade-api/v2
        (1, "GET", "https://demo-api.kalshi.co/trade-api/v2/x"),
    ],
)
def test_message_rejects_bad_parts(ts: object, method: str, path: str) -> None:
    with pytest.raises(KalshiAuthError):
        signing_message(ts, method, path)  # type: ignore[arg-type]


# ---------------------------------------------------------------- signatures


def test_signature_verifies_with_public_key_over_exact_message(rsa_private_key: rsa.RSAPrivateKey) -> None:
    auth = KalshiAuth("key-1", rsa_private_key)
    sig = auth.sign(1_700_000_000_000, "POST", "/trade-api/v2/portfolio/events/orders?x=1")
    raw = base64.b64decode(sig, validate=True)
    assert len(raw) == 256  # 2048-bit RSA
    verify(rsa_private_key.public_key(), sig, b"1700000000000POST/trade-api/v2/portfolio/events/orders")
    # Any other message must fail: the query string is not signed, the method is.
    with pytest.raises(InvalidSignature):
        verify(rsa_private_key.public_key(), sig, b"1700000000000GET/trade-api/v2/portfolio/events/orders")
    with pytest.raises(InvalidSignature):
        verify(rsa_private_key.public_key(), sig, b"1700000000000POST/trade-api/v2/portfolio/events/orders?x=1")


def test_salt_is_digest_length(rsa_private_key: rsa.RSAPrivateKey) -> None:
    sig = KalshiAuth("k", rsa_private_key).sign(7, "GET", "/trade-api/v2/exchange/status")
    wrong_salt = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=64)
    with pytest.raises(InvalidSignature):
        rsa_private_key.public_key().verify(
            base64.b64decode(sig), b"7GET/trade-api/v2/exchange/status", wrong_salt, hashes.SHA256()
        )


def test_pss_signatures_are_randomised_but_both_verify(rsa_private_key: rsa.RSAPrivateKey) -> None:
    auth = KalshiAuth("k", rsa_private_key)
    a = auth.sign(9, "GET", "/trade-api/v2/portfolio/balance")
    b = auth.sign(9, "GET", "/trade-api/v2/portfolio/balance")
    assert a != b
    for sig in (a, b):
        verify(rsa_private_key.public_key(), sig, b"9GET/trade-api/v2/portfolio/balance")


def test_headers_use_injected_clock_in_milliseconds(rsa_private_key: rsa.RSAPrivateKey) -> None:
    auth = KalshiAuth(" key-abc ", rsa_private_key, clock=lambda: 1_780_000_000.1234)
    headers = auth.headers("GET", "/trade-api/v2/portfolio/balance?x=1")
    assert set(headers) == {HEADER_KEY, HEADER_TIMESTAMP, HEADER_SIGNATURE}
    assert headers[HEADER_KEY] == "key-abc"
    assert headers[HEADER_TIMESTAMP] == "1780000000123"
    verify(rsa_private_key.public_key(), headers[HEADER_SIGNATURE], b"1780000000123GET/trade-api/v2/portfolio/balance")


# ---------------------------------------------------------------- key loading


def test_load_from_env_and_logs_only_auth_initialized(
    rsa_key_file: Path, rsa_private_key: rsa.RSAPrivateKey, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="src.auth.kalshi_auth")
    auth = KalshiAuth.from_env({"KALSHI_API_KEY_ID": "kid", "KALSHI_PRIVATE_KEY_PATH": str(rsa_key_file)})
    assert [r.getMessage() for r in caplog.records] == ["auth initialized"]
    verify(rsa_private_key.public_key(), auth.sign(1, "GET", "/trade-api/v2/x"), b"1GET/trade-api/v2/x")


def test_from_env_names_missing_variables() -> None:
    with pytest.raises(KalshiAuthError, match="KALSHI_API_KEY_ID, KALSHI_PRIVATE_KEY_PATH"):
        KalshiAuth.from_env({})
    with pytest.raises(KalshiAuthError, match="KALSHI_PRIVATE_KEY_PATH"):
        KalshiAuth.from_env({"KALSHI_API_KEY_ID": "kid", "KALSHI_PRIVATE_KEY_PATH": "  "})


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(KalshiAuthError, match="not found") as info:
        load_private_key(tmp_path / "nope.pem")
    assert "\n" not in str(info.value)


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(KalshiAuthError, match="not a file"):
        load_private_key(tmp_path)


def test_unreadable_key_file(rsa_key_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests may run as root, where chmod 000 does not stop reads: simulate the OS refusing.
    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(KalshiAuthError, match="cannot read .*Permission denied"):
        load_private_key(rsa_key_file)


def test_encrypted_key(tmp_path: Path, rsa_private_key: rsa.RSAPrivateKey) -> None:
    path = tmp_path / "enc.pem"
    path.write_bytes(
        rsa_private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"hunter2"),
        )
    )
    path.chmod(0o600)
    with pytest.raises(KalshiAuthError, match="encrypted"):
        load_private_key(path)


def test_non_rsa_key(tmp_path: Path) -> None:
    path = tmp_path / "ec.pem"
    path.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    path.chmod(0o600)
    with pytest.raises(KalshiAuthError, match="non-RSA"):
        load_private_key(path)


def test_garbage_pem_error_does_not_echo_file_contents(tmp_path: Path) -> None:
    path = tmp_path / "bad.pem"
    label = "RSA " + "PRIVATE KEY"  # assembled here so no key-shaped header is committed
    path.write_text(f"-----BEGIN {label}-----\nTOPSECRETMATERIAL\n-----END {label}-----\n")
    path.chmod(0o600)
    with pytest.raises(KalshiAuthError) as info:
        load_private_key(path)
    assert "TOPSECRETMATERIAL" not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_group_readable_key_warns(rsa_key_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="src.auth.kalshi_auth")
    load_private_key(rsa_key_file)
    assert not caplog.records
    rsa_key_file.chmod(0o644)
    load_private_key(rsa_key_file)
    assert len(caplog.records) == 1
    assert "chmod 600" in caplog.records[0].getMessage()


def test_empty_key_id_refused(rsa_private_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(KalshiAuthError, match="KALSHI_API_KEY_ID"):
        KalshiAuth("  ", rsa_private_key)


# ---------------------------------------------------------------- no key material anywhere


def test_repr_and_str_hide_everything(rsa_private_key: rsa.RSAPrivateKey) -> None:
    auth = KalshiAuth("my-secret-key-id", rsa_private_key)
    for text in (repr(auth), str(auth), f"{auth}"):
        assert "my-secret-key-id" not in text
        assert "BEGIN" not in text
        assert str(rsa_private_key.private_numbers().d)[:20] not in text


def test_auth_cannot_be_pickled(rsa_private_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(KalshiAuth("k", rsa_private_key))


def test_no_key_material_in_logs_for_any_load(
    rsa_key_file: Path, rsa_private_key: rsa.RSAPrivateKey, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    rsa_key_file.chmod(0o640)
    auth = KalshiAuth.from_pem_file("kid-xyz", rsa_key_file)
    auth.headers("GET", "/trade-api/v2/portfolio/balance")
    body = pem_text(rsa_private_key).splitlines()[1]
    for record in caplog.records:
        msg = record.getMessage()
        assert body not in msg
        assert "kid-xyz" not in msg


def test_loading_the_key_registers_its_id_for_redaction_on_every_path(tmp_path: Path, secrets: Any) -> None:
    """--record-only and --verify load the key without main.py's registration: load_auth registers it."""
    from src.config import load_settings
    from src.journal.log_setup import redact
    from src.platforms.kalshi_credentials import load_auth
    from tests.fakes.fault_project import make_project

    root = make_project(tmp_path, env_text=secrets.env_text())
    line = f"handshake as {secrets.key_id}"
    assert secrets.key_id in redact(line, uuids=False)  # not yet known: only the UUID shape would hide it
    assert load_auth(load_settings(root=root), require=True) is not None
    assert secrets.key_id not in redact(line, uuids=False)
