"""Shared pytest fixtures: clocks, sleeps, throwaway keys and TLS, an isolated project directory and environment."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from src.db import Database
from src.journal import log_setup
from src.journal.trade_log import TradeLog
from tests.fakes.fault_secrets import FakeSecrets, make_fake_secrets
from tests.fakes.polymarket_server import LoopbackTLS

REPO = Path(__file__).resolve().parent.parent
# Hypothesis keeps its example database and constants cache under .hypothesis/ in the working
# directory; tests write only to temporary directories, so point it at one.
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", tempfile.mkdtemp(prefix="polybot-hypothesis-"))
SAMPLE_DATA = REPO / "tests" / "data"  # real public market data shipped with the tests


class ManualClock:
    """A clock tests move by hand: never sleep for real to test time."""

    def __init__(self, start: float = 1_780_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(autouse=True)
def registered_secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[set[str]]:
    """Secrets a test registers for redaction (directly, or through an in-process daemon start) are
    forgotten when it ends: the registry is process-global, and a leftover would redact text in later tests."""
    own = set(log_setup._exact_secrets)
    monkeypatch.setattr(log_setup, "_exact_secrets", own)
    yield own


class RecordedSleeps:
    """A sleep that records each wait and returns at once: retry waits are checked, never slept."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps() -> RecordedSleeps:
    return RecordedSleeps()


@pytest.fixture(scope="module")
def tls() -> Iterator[LoopbackTLS]:
    """Loopback TLS material for the local fake Polymarket servers, one per test module."""
    material = LoopbackTLS()
    yield material
    material.cleanup()


@pytest.fixture(scope="session")
def rsa_private_key() -> rsa.RSAPrivateKey:
    # Generated at test time so no key material is ever committed.
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def rsa_key_file(tmp_path: Path, rsa_private_key: rsa.RSAPrivateKey) -> Path:
    path = tmp_path / "kalshi.pem"
    path.write_bytes(
        rsa_private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    return path


@pytest.fixture
def project_dir(tmp_path: Path) -> Iterator[Path]:
    """A copy of the repo's config files in a temp dir, for code that reads/writes under a root."""
    root = tmp_path / "proj"
    root.mkdir()
    for name in ("config.yaml", "USER_CONFIG.json"):
        shutil.copy(REPO / name, root / name)
    (root / "logs" / "trades").mkdir(parents=True)
    (root / "logs" / "errors").mkdir(parents=True)
    (root / "data").mkdir()
    yield root


@pytest.fixture
def tlog(tmp_path: Path, clock: ManualClock) -> TradeLog:
    return TradeLog(tmp_path / "trades", clock)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    """A fresh trading database in the test's temporary directory."""
    database = Database(tmp_path / "bot.db")
    yield database
    database.close()


@pytest.fixture
def kalshi_clock() -> Callable[[], float]:
    """The clock the fake Kalshi (`server`) runs on: the wall clock. A module whose venue runs on the
    manual clock overrides this fixture to return `clock`."""
    return time.time


@pytest.fixture
async def server(rsa_private_key: rsa.RSAPrivateKey, kalshi_clock: Callable[[], float]) -> AsyncIterator[Any]:
    """The fake Kalshi REST venue (tests/fakes/kalshi_server.py) over local TLS."""
    from tests.fakes.kalshi_server import start_fake_kalshi

    async with start_fake_kalshi(rsa_private_key, clock=kalshi_clock) as s:
        yield s


@pytest.fixture
def market(server: Any) -> str:
    """A KXBTC15M window open now on the fake venue, with the standard book (YES asks 0.45 x 3, 0.50 x 10)."""
    from tests.fakes.kalshi_server import add_standard_market

    return add_standard_market(server.fake)


@pytest.fixture(scope="module")
def us_tls() -> Iterator[LoopbackTLS]:
    """Loopback TLS for the fake Polymarket US hosts and the international Data API (the whale source)."""
    from tests.fakes.polymarket_server import DATA_HOST
    from tests.fakes.polymarket_us_server import API_HOST, GATEWAY_HOST

    material = LoopbackTLS((API_HOST, GATEWAY_HOST, DATA_HOST))
    yield material
    material.cleanup()


@pytest.fixture
def us_key() -> tuple[str, str]:
    """A throwaway Polymarket US API key: (key id, base64 Ed25519 secret)."""
    from tests.fakes.polymarket_us_server import new_us_key

    return new_us_key()


@pytest.fixture
def us_clock(clock: ManualClock) -> Callable[[], float]:
    """The clock the fake Polymarket US (`us_fake`) runs on: the manual clock. A module whose tests
    need another (a fixed instant, the wall clock) overrides this fixture."""
    return clock


@pytest.fixture
async def us_fake(us_tls: LoopbackTLS, us_key: tuple[str, str], us_clock: Callable[[], float]) -> AsyncIterator[Any]:
    """The fake Polymarket US venue over `us_tls`, trusting `us_key`, listing the LAC_TEN market (no book yet)."""
    from tests.fakes.polymarket_us_server import LAC_TEN, FakePolymarketUS, lac_ten_market

    server = FakePolymarketUS(us_tls, *us_key, now=us_clock)
    server.markets[LAC_TEN] = lac_ten_market()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def daemon_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """For suites that run main.main in-process: none of the developer's real credentials are
    visible (real environment variables win over .env), and the root logger main configures is
    put back afterwards so later tests do not write to closed streams."""
    from tests.fakes.fault_daemon import restored_logging

    for name in list(os.environ):
        if name.startswith(("KALSHI_", "POLY_", "POLYMARKET_", "LIVE_TRADING")):
            monkeypatch.delenv(name)
    with restored_logging():
        yield


@pytest.fixture
def secrets(tmp_path: Path, rsa_private_key: rsa.RSAPrivateKey) -> FakeSecrets:
    return make_fake_secrets(tmp_path / "secrets", rsa_private_key)
