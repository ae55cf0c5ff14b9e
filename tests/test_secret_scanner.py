"""The leak scanner the security and fault suites rely on: it must see every signature-shaped run."""

from __future__ import annotations

import base64
import random

from tests.fakes.fault_secrets import looks_like_secret_blob, shaped_secrets


def test_every_random_signature_is_seen_even_with_slashes() -> None:
    """RSA-PSS signatures are 344 base64 characters; a few '/' in them must not make one read as a path."""
    rng = random.Random(20261207)
    missed = [
        sig for sig in (base64.b64encode(rng.randbytes(256)).decode() for _ in range(3000))
        if not shaped_secrets(sig)
    ]
    assert missed == []


def test_paths_and_words_are_not_secrets() -> None:
    for text in (
        "/tmp/pytest-of-root/pytest-6/test_the_scanners_catch_plante0/logs/trades",
        "/trade-api/v2/markets/KXBTC15M-26APR271445-45/orderbook",
        "0x" + "ab12" * 10,
    ):
        assert not looks_like_secret_blob(text), text


def test_a_signature_with_short_lowercase_runs_between_slashes_is_seen() -> None:
    """The shape that slipped through before: two short lower-case segments between slashes."""
    sig = "Qm9vTXk3ZkJ1" + "/abc/" + "Z3R4eQ9Lp0Wn" + "/xyz/" + "Kq8Rt5Vb2Nm7Hj4Gf6Dd1Ss3Aa9Pp0Oo2Ii8Uu"
    assert looks_like_secret_blob(sig)
