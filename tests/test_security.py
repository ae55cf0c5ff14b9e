"""Red-team suite: secrets never leak, every network module stays on its allowlist, the guards hold.

ARCHITECTURE.md names this file: it must pass 100%. Everything runs offline against the local
fakes (tests/fakes/); fake key material is generated per test (tests/fakes/fault_secrets.py).
"""

from __future__ import annotations

import ast
import asyncio
import base64
import io
import json
import os
import re
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from src.data.binance import BINANCE_URL
from src.db import Database, db_path_for
from src.model.models import Mode
from src.platforms.kalshi import ALLOWED_HOSTS as KALSHI_ALLOWED
from tests.fakes.fault_daemon import (
    DaemonRun,
    add_test_market,
    run_main,
    satisfy_live_guards,
    send_flat,
    send_ramp,
)
from tests.fakes.fault_project import REPO, copy_code, make_project
from tests.fakes.fault_secrets import (
    FakeSecrets,
    database_text_values,
    find_leaks,
    scan_database,
    scan_tree,
)
from tests.source_imports import imports_any, imports_of

FAST = {
    "kalshi": {"poll_interval_s": 0.2},
    "execution": {"status_interval_s": 0.5},
}


pytestmark = pytest.mark.usefixtures("daemon_env")


def assert_no_leaks(where: str, leaks: object) -> None:
    assert not leaks, f"secret material found in {where}: {leaks}"


def assert_clean_project(root: Path, secrets: FakeSecrets, *, db_mode: Mode | None = None) -> None:
    """Every file the bot wrote under root (logs, lock files, databases), and every database value."""
    assert_no_leaks("project files", scan_tree(root, secrets.needles(), exclude=[root / ".env"]))
    if db_mode is not None:
        path = db_path_for(root, db_mode)
        assert path.is_file(), f"{path} was not written"
        assert database_text_values(path) > 0, "the database is empty: the scan would prove nothing"
        assert_no_leaks(f"database {path.name}", scan_database(path, secrets.needles()))


# ----------------------------------------------------------------------------------------------------
# the daemon end to end, every path a secret could travel


def test_paper_daemon_against_fakes_leaks_no_secret(monkeypatch, capfd, tmp_path, secrets) -> None:
    """--paper through main.main: keys loaded, Kalshi and Binance fakes, faults, a signal, a paper fill."""
    root = make_project(tmp_path, config=FAST, env_text=secrets.env_text(omit=["POLY_API_SECRET"]))
    monkeypatch.setenv("POLY_API_SECRET", secrets.poly_api_secret)  # the environment path of load_secrets

    async def scenario(run: DaemonRun) -> None:
        engine = await run.wait_engine()
        await run.until(lambda: run.binance.open_count > 0, 10, "the feed to connect")
        fake = run.kalshi.fake
        fake.fail_next(500, times=1, path="/markets")
        fake.fail_next(429, times=2, path="/markets")
        fake.malformed_next(times=1, path="/markets")
        await send_flat(run.binance, 65000.0, 0.5)
        await run.binance.broadcast("{not json")
        await send_ramp(run.binance, 65000.0, 65700.0)
        deadline = time.monotonic() + 15
        while engine.orders_sent < 1 and time.monotonic() < deadline:
            await send_flat(run.binance, 65700.0, 0.2)
        run.notes["reason"] = engine.why_not_trading

    code, run = run_main(monkeypatch, ["--paper"], root, scenario, key=secrets.private_key, key_id=secrets.key_id,
                         setup=add_test_market)
    out, err = capfd.readouterr()
    assert code == 0, err[-2000:]
    assert run.engine.orders_sent >= 1, f"no paper order was placed ({run.notes.get('reason')})"
    assert set(run.lookups) <= KALSHI_ALLOWED and run.lookups
    assert run.binance.dialed and set(run.binance.dialed) == {BINANCE_URL}
    assert list((root / "logs" / "trades").glob("*.jsonl")), "no trade log was written"
    assert (root / "logs" / "errors" / "errors.log").stat().st_size > 0, "the injected faults were not logged"
    assert_no_leaks("stdout", find_leaks(out, secrets.needles()))
    assert_no_leaks("stderr", find_leaks(err, secrets.needles()))
    assert_clean_project(root, secrets, db_mode=Mode.PAPER)


def test_live_daemon_against_fakes_leaks_no_secret(monkeypatch, capfd, tmp_path, secrets) -> None:
    """--live through main.main (guards satisfied): signed start-up calls, reconciliation, a real order
    whose first answer is a 500 echoing the request's KALSHI-ACCESS-* headers, the fills read back."""
    satisfy_live_guards(monkeypatch)
    root = make_project(tmp_path, config=FAST, env_text=secrets.env_text(live_trading=True))

    async def scenario(run: DaemonRun) -> None:
        engine = await run.wait_engine()
        await run.until(lambda: run.binance.open_count > 0, 10, "the feed to connect")
        run.kalshi.fake.fail_next(500, echo_auth_headers=True, method="POST", path="/portfolio/events/orders",
                                  after_processing=True)
        await send_flat(run.binance, 65000.0, 0.3)
        await send_ramp(run.binance, 65000.0, 65700.0)
        deadline = time.monotonic() + 15
        while engine.orders_sent < 1 and time.monotonic() < deadline:
            await send_flat(run.binance, 65700.0, 0.2)
        # The ambiguous order is never re-sent: the daemon's resolution looks it up and reads its fills.
        await run.until(lambda: any(r.path == "/portfolio/fills" for r in run.kalshi.fake.requests), 15,
                        "the pending order to be resolved")

    code, run = run_main(monkeypatch, ["--live"], root, scenario, key=secrets.private_key, key_id=secrets.key_id,
                         setup=add_test_market)
    out, err = capfd.readouterr()
    assert code == 0, err[-2000:]
    assert run.engine.orders_sent == 1
    assert sum(1 for r in run.kalshi.fake.requests if r.signed) >= 5  # balance, reconciliation, order, fills
    assert set(run.lookups) <= KALSHI_ALLOWED
    assert_no_leaks("stdout", find_leaks(out, secrets.needles()))
    assert_no_leaks("stderr", find_leaks(err, secrets.needles()))
    assert_clean_project(root, secrets, db_mode=Mode.LIVE)


def _replay_file(path: Path, hours: float, start_ts: float = 1_772_409_600.0) -> Path:
    """Prices from the simulator's own generator (seeded), `hours` long from 2026-03-02 00:00 UTC."""
    from src.config import load_settings
    from src.data.price_files import write_price_csv
    from src.data.price_generator import PriceGenerator

    settings = load_settings(root=REPO)
    ticks = PriceGenerator(settings.app.sim, seed=11).ticks(start_ts, end_ts=start_ts + hours * 3600)
    write_price_csv(path, ticks)
    return path


def test_sim_daemon_and_reports_leak_no_secret(capfd, tmp_path, secrets) -> None:
    """--sim (credentials present but unused) then --report, text and JSON, from a project with a full .env."""
    import main

    root = make_project(tmp_path, env_text=secrets.env_text(live_trading=True))
    replay = _replay_file(tmp_path / "prices.csv", hours=4)
    assert main.main(["--sim", "--speed", "100000", "--replay", str(replay)], root=root) == 0
    assert main.main(["--report", "--mode", "sim", "--date", "2026-03-02"], root=root) == 0
    assert main.main(["--report", "--mode", "sim", "--date", "2026-03-02", "--json"], root=root) == 0
    out, err = capfd.readouterr()
    assert "[SIM · SYNTHETIC BOOK]" in out and '"' in out  # the status lines and the JSON report were printed
    assert "SYNTHETIC BOOK: profit reflects the assumed Kalshi lag sim.lag_s = " in out  # the start-up label
    assert_no_leaks("stdout", find_leaks(out, secrets.needles()))
    assert_no_leaks("stderr", find_leaks(err, secrets.needles()))
    assert_clean_project(root, secrets, db_mode=Mode.SIM)


def test_verify_with_failing_checks_leaks_no_secret(monkeypatch, capfd, tmp_path, secrets) -> None:
    """--verify through main.main: the signed balance call gets a 401 that echoes the request's
    KALSHI-ACCESS-* headers back, there is no open market, and the feed is refused with HTTP 451."""
    import main
    import setup.verify as verify
    from src.data.feed_check import check_feed
    from src.data.kalshi_ws_check import check_kalshi_ws
    from src.platforms.kalshi import KalshiClient, load_auth
    from src.platforms.kalshi_verify import verify_kalshi
    from tests.fakes.binance_server import FakeBinanceServer
    from tests.fakes.kalshi_server import start_fake_kalshi
    from tests.fakes.kalshi_ws_server import FakeKalshiWs

    root = make_project(tmp_path, env_text=secrets.env_text())
    seen: dict[str, int] = {}

    def run_verify_against_fakes(settings, out=print) -> int:  # the same three steps as setup.verify.run_verify
        async def checks():
            async with start_fake_kalshi(secrets.private_key, key_id=secrets.key_id) as kalshi:
                async with FakeBinanceServer() as binance, FakeKalshiWs({}) as kalshi_ws:  # knows no key: 401
                    kalshi.fake.fail_next(401, code="INCORRECT_API_KEY_SIGNATURE", echo_auth_headers=True,
                                          path="/portfolio/balance")
                    binance.reject_status = 451

                    def client(s, auth):
                        return KalshiClient.from_settings(s, with_auth=False, auth=auth,
                                                          connector_factory=kalshi.connector)

                    async def kalshi_checks(s):
                        return await verify_kalshi(s, client_factory=client)

                    async def feed_checks(s):
                        return await check_feed(s.app.feed, seconds=2.0, connect=binance.connect)

                    async def ws_checks(s):
                        return await check_kalshi_ws(s.app.kalshi, load_auth(s), seconds=1.0, connect=kalshi_ws.connect)

                    results = await verify.collect(settings, kalshi=kalshi_checks, feed=feed_checks,
                                                   kalshi_ws=ws_checks)
                    seen["ws_refused"] = len(kalshi_ws.rejected)
                    seen["signed"] = sum(1 for r in kalshi.fake.requests if r.signed)
                    return results

        text, code = verify.render(asyncio.run(checks()))
        out(text)
        return code

    monkeypatch.setattr(verify, "run_verify", run_verify_against_fakes)
    code = main.main(["--verify"], root=root)
    out, err = capfd.readouterr()
    assert code == 1
    assert seen["signed"] >= 1, "the signed balance call never reached the fake"
    assert "✗ Kalshi balance" in out and "INCORRECT_API_KEY_SIGNATURE" in out
    assert "✗ BTC price feed" in out
    assert seen["ws_refused"] >= 1 and "✗ Kalshi websocket" in out and "no handshake" in out
    assert_no_leaks("stdout", find_leaks(out, secrets.needles()))
    assert_no_leaks("stderr", find_leaks(err, secrets.needles()))
    assert_clean_project(root, secrets)


def _pem_lines(secrets: FakeSecrets) -> list[str]:
    return secrets.key_path.read_text().splitlines()


BAD_KEYS = ["truncated_pem", "encrypted_pem", "directory", "ec_key", "missing_file", "empty_key_id"]


@pytest.mark.parametrize("case", BAD_KEYS)
def test_bad_key_file_is_one_clear_line_without_key_material(case, capfd, tmp_path, secrets) -> None:
    """Every way the key can be unusable: exit 2, one `error:` line, no traceback, nothing of the key echoed."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    import main

    bad = tmp_path / "bad.pem"
    env = secrets.env()
    lines = _pem_lines(secrets)
    if case == "truncated_pem":  # real key lines, cut short: a parser error must not quote them
        bad.write_text("\n".join(lines[:6]) + "\n")
    elif case == "encrypted_pem":
        bad.write_bytes(secrets.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase-for-test")))
    elif case == "directory":
        bad.mkdir()
    elif case == "ec_key":
        bad.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    elif case == "empty_key_id":
        env["KALSHI_API_KEY_ID"] = ""
    if case != "missing_file" and bad.is_file():
        bad.chmod(0o600)
    if case not in ("empty_key_id",):
        env["KALSHI_PRIVATE_KEY_PATH"] = str(bad)
    root = make_project(tmp_path, env_text="".join(f"{k}={v}\n" for k, v in env.items()))
    code = main.main(["--paper"], root=root)
    out, err = capfd.readouterr()
    assert code == 2, err
    errors = [line for line in err.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: "), err
    assert "Traceback" not in out + err
    assert_no_leaks("stdout", find_leaks(out, secrets.needles()))
    assert_no_leaks("stderr", find_leaks(err, secrets.needles()))
    assert_clean_project(root, secrets)


def test_world_readable_key_file_warns_without_the_key(monkeypatch, capfd, tmp_path, secrets) -> None:
    """chmod 644 on the key: a warning naming the file and the fix is logged; the key is not."""
    secrets.key_path.chmod(0o644)
    root = make_project(tmp_path, config=FAST, env_text=secrets.env_text())

    async def scenario(run: DaemonRun) -> None:
        await run.wait_engine()

    code, _ = run_main(monkeypatch, ["--paper"], root, scenario, key=secrets.private_key, key_id=secrets.key_id)
    out, err = capfd.readouterr()
    assert code == 0, err[-2000:]
    on_disk = (root / "logs" / "errors" / "errors.log").read_text()
    for where, text in (("stderr", err), ("errors.log", on_disk)):
        warning = [line for line in text.splitlines() if "accessible by group/others" in line]
        assert warning and "chmod 600" in warning[0] and secrets.key_path.name in warning[0], where
        assert_no_leaks(where, find_leaks(text, secrets.needles()))
    assert_clean_project(root, secrets)


def test_the_scanners_catch_planted_secrets(tmp_path, secrets) -> None:
    """The leak checks above can fail: every kind of planted secret is reported, by kind, not by value."""
    root = make_project(tmp_path)
    signature = base64.b64encode(os.urandom(256)).decode()  # an RSA-PSS signature's shape
    (root / "logs" / "errors" / "errors.log").write_text(f"oops key id {secrets.key_id}\n")
    (root / "logs" / "trades" / "x.jsonl").write_text(json.dumps({"sig": signature}) + "\n")
    (root / "BLOCKERS.md").write_text(_pem_lines(secrets)[3] + "\n")
    (root / "KILL_SWITCH_EVENT.log").write_text(f"POLY_PRIVATE_KEY {secrets.poly_private_key}\n")
    db = Database(root / "data" / "paper.db")
    db.record_error(1.0, "x", f"passphrase {secrets.poly_passphrase}")
    db.close()
    found = scan_tree(root, secrets.needles())
    assert {"logs/errors/errors.log", "logs/trades/x.jsonl", "BLOCKERS.md", "KILL_SWITCH_EVENT.log",
            "data/paper.db"} <= set(found)
    assert scan_database(root / "data" / "paper.db", secrets.needles())
    assert find_leaks("-----BEGIN " + "RSA PRIVATE KEY-----\nMIIE", []) and find_leaks("0x" + "ab12" * 16, [])
    report = repr(found)
    for needle in secrets.needles():
        assert needle not in report  # findings never repeat the secret
    # ... and ordinary output does not trip them: paths, tickers, order ids, prices, UUID-free text.
    benign = (
        "/tmp/pytest-of-root/pytest-1/test_x0/proj/data/paper.db KXBTC15M-26APR271445-45 "
        "/trade-api/v2/markets/KXBTC15M-26APR271445-45/orderbook pb0123456789abcdef0123456789abcdef "
        "price 0.5600 0xE111180000d2663C0091e4f400237545B87B996B"
    )
    assert find_leaks(benign, secrets.needles()) == []


# ----------------------------------------------------------------------------------------------------
# error answers that echo credentials back, exception text, reprs


def _exception_texts(exc: BaseException) -> str:
    import traceback

    return "\n".join([str(exc), repr(exc), "".join(traceback.format_exception(exc))])


async def test_kalshi_error_answers_echoing_credentials_are_scrubbed(capfd, tmp_path, secrets) -> None:
    """401s and 500s whose bodies carry the request's KALSHI-ACCESS-* headers: the exceptions, the logs,
    the kill switch's database rows and BLOCKERS.md (written on the third 401) carry none of it."""
    from src.config import RiskConfig
    from src.journal.log_setup import setup_logging
    from src.net.backoff import RetryPolicy
    from src.platforms.kalshi import KalshiAPIError, KalshiAuthFailure
    from src.risk.kill_switch import KillSwitch
    from tests.fakes.kalshi_server import start_fake_kalshi

    root = make_project(tmp_path)
    setup_logging(root, "INFO")
    log = __import__("logging").getLogger("polybot.security")
    db = Database(db_path_for(root, Mode.LIVE))
    ks = KillSwitch(RiskConfig(), Decimal("100"), db, root, mode=Mode.LIVE, clock=time.time, cancel_all=lambda: None)
    texts: list[str] = []
    async with start_fake_kalshi(secrets.private_key, key_id=secrets.key_id) as server:
        fake = server.fake
        client = server.client(
            on_auth_failure=ks.record_auth_failure, on_auth_success=ks.record_auth_success,
            retry_policy=RetryPolicy(max_attempts=2, base_delay_s=0.01, max_delay_s=0.02, budget_s=5),
        )
        fake.fail_next(401, code="INCORRECT_API_KEY_SIGNATURE", echo_auth_headers=True, times=3,
                       path="/portfolio/balance")
        fake.fail_next(500, echo_auth_headers=True, times=2, path="/portfolio/positions")
        fake.fail_next(503, echo_auth_headers=True, times=10, method="POST", path="/portfolio/events/orders")
        fake.fail_next(500, echo_auth_headers=True, times=10, path="/portfolio/orders")
        async with client:
            for _ in range(3):
                with pytest.raises(KalshiAuthFailure) as info:
                    await client.get_balance()
                texts.append(_exception_texts(info.value))
                log.error("balance failed: %s", info.value, exc_info=info.value)
            with pytest.raises(KalshiAPIError) as info:
                await client.get_positions()
            texts.append(_exception_texts(info.value))
            with pytest.raises(KalshiAPIError) as info:
                from src.model.models import Side

                await client.place_order("KXBTC15M-26APR271445-45", Side.YES, Decimal("1"), Decimal("0.5"),
                                         "pb" + "0" * 32)
            texts.append(_exception_texts(info.value))
            log.error("order failed: %s", info.value, exc_info=info.value)
        echoed = [r for r in fake.requests if r.signed]
        assert len(echoed) >= 6
    db.close()
    assert ks.status().auth_failures == 3 and (root / "BLOCKERS.md").is_file()
    out, err = capfd.readouterr()
    for i, text in enumerate(texts):
        assert "<redacted>" in text or "order_state_unknown" in text, text
        assert_no_leaks(f"exception #{i}", find_leaks(text, secrets.needles()))
    assert_no_leaks("stdout", find_leaks(out, secrets.needles()))
    assert_no_leaks("stderr", find_leaks(err, secrets.needles()))
    assert_clean_project(root, secrets, db_mode=Mode.LIVE)


async def test_polymarket_errors_echoing_credentials_are_scrubbed(capfd, tmp_path, secrets) -> None:
    """The CLOB client (behind enabled=false, built here directly): answers that repeat the API key,
    passphrase and secret do not carry them into exceptions or logs. The whale tracker reads a public
    API: it never sends a credential at all, so no answer of its server could echo one."""
    from src.auth.poly_auth import ApiCreds
    from src.auth.poly_wallet import PolyWallet
    from src.config import WhaleConfig
    from src.data.whale_tracker import WhaleTracker
    from src.journal.log_setup import setup_logging
    from src.net.backoff import RetryPolicy
    from src.net.poly_http import PolyHttpError
    from src.platforms.polymarket import PolymarketClient
    from tests.fakes.polymarket_data_server import FakeDataApi
    from tests.fakes.polymarket_server import CLOB_HOST, DATA_HOST, FakeClob, Fault, LoopbackTLS, connector_factory

    root = make_project(tmp_path)
    setup_logging(root, "INFO")
    creds = ApiCreds(secrets.poly_api_key, secrets.poly_api_secret, secrets.poly_passphrase)
    wallet = PolyWallet.from_private_key(secrets.poly_private_key)
    echo = json.dumps({"error": f"bad creds key={creds.api_key} passphrase {creds.passphrase} {creds.secret}"})
    policy = RetryPolicy(max_attempts=2, base_delay_s=0.01, max_delay_s=0.02, budget_s=5)
    tls = LoopbackTLS()
    texts: list[str] = []
    try:
        clob, data = FakeClob(tls), FakeDataApi(tls)
        await clob.start()
        await data.start()
        try:
            clob.fail(path := "/data/orders", Fault(status=401, body=echo), Fault(status=401, body=echo))
            data.fail("/v1/leaderboard", Fault(status=500), Fault(status=500))
            client = PolymarketClient(wallet, creds=creds,
                                      connector_factory=connector_factory(tls, {CLOB_HOST: clob.port}),
                                      retry_policy=policy)
            tracker = WhaleTracker(WhaleConfig(), time.time, retry_policy=policy,
                                   connector_factory=connector_factory(tls, {DATA_HOST: data.port}))
            try:
                with pytest.raises(PolyHttpError) as info:
                    await client.get_open_orders()
                texts.append(_exception_texts(info.value))
                with pytest.raises(PolyHttpError) as info:
                    await tracker.refresh_whales()
                texts.append(_exception_texts(info.value))
            finally:
                await client.close()
                await tracker.close()
            assert clob.hits(path) and data.hits("/v1/leaderboard")
            for seen in data.requests:
                assert not [h for h in seen.headers if h.upper().startswith("POLY")]
                assert_no_leaks("a Data API request", find_leaks(json.dumps(seen.__dict__), secrets.needles()))
        finally:
            await clob.stop()
            await data.stop()
    finally:
        tls.cleanup()
    out, err = capfd.readouterr()
    texts.append(repr(client) + repr(creds) + str(creds) + repr(wallet) + str(wallet))
    for i, text in enumerate(texts):
        assert_no_leaks(f"text #{i}", find_leaks(text, secrets.needles()))
    assert_no_leaks("stderr", find_leaks(err, secrets.needles()))
    assert_clean_project(root, secrets)


def test_settings_and_clients_never_show_secrets_in_repr_or_pickle(tmp_path, secrets) -> None:
    import pickle

    from src.auth.kalshi_auth import KalshiAuth
    from src.config import load_settings
    from src.platforms.kalshi import KalshiClient

    root = make_project(tmp_path, env_text=secrets.env_text(live_trading=True))
    settings = load_settings(root=root)
    auth = KalshiAuth.from_pem_file(secrets.key_id, secrets.key_path)
    client = KalshiClient(auth=auth)
    shown = " ".join(f(x) for x in (settings, settings.secrets, auth, client) for f in (repr, str))
    assert "KALSHI_API_KEY_ID" in shown  # the key names are shown, so a person can see what is set
    assert_no_leaks("reprs", find_leaks(shown, secrets.needles()))
    with pytest.raises(TypeError):
        pickle.dumps(auth)


# ----------------------------------------------------------------------------------------------------
# the repository itself


# Public reference vectors that look like secrets, allowed by exact value and file. Each is public:
# DECISIONS §8's py-clob-client-v2 HMAC test vector (split here so this file does not hold it whole).
HMAC_VECTOR = "ZwAdJKvoYRlEKDkNMwd5" + "BuwNNtg93kNaR_oU2HrfVvc="
ALLOWED_FINDINGS = {
    ("tests/test_poly_auth.py", HMAC_VECTOR),
    ("tests/test_logging.py", HMAC_VECTOR),
}
_PEM_BODY = re.compile(r"(?:\s|\\n)*([A-Za-z0-9+/=]*)")


def _pem_findings(text: str) -> list[str]:
    """Each PEM private-key header with the start of the body after it (real newlines or literal \\n)."""
    from tests.fakes.fault_secrets import PEM_PRIVATE_HEADER

    found = []
    for m in PEM_PRIVATE_HEADER.finditer(text):
        body = _PEM_BODY.match(text, m.end())
        found.append(m.group(0) + "\n" + (body.group(1)[:40] if body else ""))
    return found


def repository_findings() -> list[tuple[str, str]]:
    from tests.fakes.fault_project import repo_files
    from tests.fakes.fault_secrets import BASE64_RUN, HEX_KEY, KEY_ID_ASSIGNMENT, looks_like_secret_blob

    found: list[tuple[str, str]] = []
    for rel in repo_files():
        data = (REPO / rel).read_bytes()
        if b"\x00" in data[:8192]:
            continue  # binary (images): no text secrets to read
        text = data.decode("utf-8", errors="replace")
        found += [(rel, value) for value in _pem_findings(text)]
        found += [(rel, m.group(0)) for m in KEY_ID_ASSIGNMENT.finditer(text)]
        found += [(rel, m.group(0)) for m in HEX_KEY.finditer(text)]
        found += [(rel, m.group(0)) for m in BASE64_RUN.finditer(text) if looks_like_secret_blob(m.group(0))]
        if rel.endswith((".pem", ".key", ".p12", ".pfx")) or rel.split("/")[-1] == ".env":
            found.append((rel, "<credential file>"))
    return found


def test_repository_holds_no_private_keys_or_secret_shaped_strings() -> None:
    unexpected = [(path, value[:12] + "...") for path, value in repository_findings()
                  if (path, value) not in ALLOWED_FINDINGS]
    assert not unexpected, f"secret-shaped text in the repository: {unexpected}"


def test_repository_scan_would_catch_a_committed_key(tmp_path, secrets, monkeypatch) -> None:
    import tests.fakes.fault_project as project

    planted = {
        "notes.txt": secrets.key_path.read_text(),
        "env.sample": f"KALSHI_API_KEY_ID={secrets.key_id}\n",
        "wallet.py": f"KEY = '{secrets.poly_private_key}'\n",
        "secret.py": f"SECRET = '{secrets.poly_api_secret}'\n",
    }
    for name, text in planted.items():
        (tmp_path / name).write_text(text)
    monkeypatch.setattr(project, "repo_files", lambda: sorted(planted))
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    assert {path for path, _ in repository_findings()} == set(planted)


# ----------------------------------------------------------------------------------------------------
# allowlists: exactly the decided hosts, checked on every request, redirects never followed

# DECISIONS §1 (Kalshi REST; `trading-api.kalshi.com` is gone; the WS hosts belong to the websocket client only),
# §3 (one host per feed source), §8 (whale_tracker's Data API) and ARCHITECTURE §6 (the CLOB).
DECIDED = {
    "src.platforms.kalshi.ALLOWED_HOSTS": {
        "demo-api.kalshi.co", "external-api.demo.kalshi.co", "external-api.kalshi.com", "api.elections.kalshi.com",
    },
    "src.data.binance.BINANCE_HOSTS": {"stream.binance.com"},
    "src.data.binance.BINANCE_US_HOSTS": {"stream.binance.us"},
    "src.data.coinbase.ALLOWED_HOSTS": {"ws-feed.exchange.coinbase.com"},
    "src.platforms.polymarket.CLOB_HOSTS": {"clob.polymarket.com"},
    "src.data.whale_tracker.DATA_API_HOSTS": {"data-api.polymarket.com"},
    "src.notify.telegram_api.TELEGRAM_HOSTS": {"api.telegram.org"},  # remote control (issue 23)
    # DECISIONS §8: Polymarket US, signed calls on api., public market data on gateway.
    "src.platforms.polymarket_us.US_HOSTS": {"api.polymarket.us", "gateway.polymarket.us"},
    "src.data.kalshi_ws.ALLOWED_HOSTS": {"external-api-ws.kalshi.com", "external-api-ws.demo.kalshi.co"},
    # issue 21: public history downloads (no credentials), one allowlist per source
    "src.data.kalshi_history.KALSHI_HISTORY_HOSTS": {"external-api.kalshi.com", "api.elections.kalshi.com"},
    "src.data.btc_history.BINANCE_REST_HOSTS": {"api.binance.com"},
    "src.data.btc_history.BINANCE_US_REST_HOSTS": {"api.binance.us"},
    "src.data.btc_history.COINBASE_REST_HOSTS": {"api.exchange.coinbase.com"},
}
NEVER = {"trading-api.kalshi.com"}


def _resolve(dotted: str) -> object:
    import importlib

    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def test_allowlists_are_exactly_the_decided_hosts() -> None:
    from src.data.binance import BINANCE_US_URL, BinanceFeed
    from src.data.coinbase import COINBASE_URL, CoinbaseFeed
    from src.data.whale_tracker import DATA_API_URL
    from src.platforms.kalshi import ENV_HOSTS
    from src.platforms.polymarket import CLOB_URL

    for dotted, hosts in DECIDED.items():
        assert _resolve(dotted) == frozenset(hosts), dotted
    every = set().union(*DECIDED.values())
    assert not every & NEVER
    assert set(ENV_HOSTS.values()) <= DECIDED["src.platforms.kalshi.ALLOWED_HOSTS"]
    # REST and websocket each reach only their own hosts
    assert not DECIDED["src.platforms.kalshi.ALLOWED_HOSTS"] & DECIDED["src.data.kalshi_ws.ALLOWED_HOSTS"]
    assert BINANCE_URL == "wss://stream.binance.com:9443/ws/btcusdt@trade"
    assert BINANCE_US_URL == "wss://stream.binance.us:9443/ws/btcusdt@trade"
    assert COINBASE_URL == "wss://ws-feed.exchange.coinbase.com"
    assert CLOB_URL.startswith("https://clob.polymarket.com") and DATA_API_URL.startswith("https://data-api.polymarket.com")
    # each feed instance carries its own source's one host, never the union
    assert BinanceFeed(time.time).allowed_hosts == {"stream.binance.com"}
    assert BinanceFeed(time.time, source="binance_us").allowed_hosts == {"stream.binance.us"}
    assert CoinbaseFeed(time.time).allowed_hosts == {"ws-feed.exchange.coinbase.com"}


NETWORK_LIBS = (
    "aiohttp", "websockets", "socket", "urllib.request", "http.client", "requests", "httpx", "ssl", "smtplib",
    "apprise",
)
# Opening a connection or sending a request; `self._http.request(` is delegation to PolyHttp (which checks).
ACTIVE_CALLS = re.compile(
    r"ClientSession\(|TCPConnector\(|ws_connect|(?<!self\._http)\.request\(|create_connection\(|urlopen\(|"
    r"open_connection\(|getaddrinfo\(|socket\.socket\("
)
# Every venue websocket (the price feeds, Kalshi's) dials through src/net/ws_session.open_ws.
REQUESTERS = {"src/platforms/kalshi_transport.py", "src/net/ws_session.py", "src/net/poly_http.py",
              "src/notify/telegram_api.py", "src/net/public_http.py"}
# Libraries that open their own connections (no transport to inject): only these modules may use
# them, each validates its hosts with check_url at start-up and sends only inside
# src.net.connection_guard.only_hosts, which refuses every host lookup off that list.
SELF_CONNECTING_LIBS = ("apprise", "requests", "smtplib", "urllib.request", "http.client", "httpx")
GUARDED_SENDERS = {"src/notify/apprise_sender.py"}
# Builds the aiohttp sessions the requesters above send through; it may construct, never send.
SESSION_BUILDERS = {"src/net/http_session.py"}
CONSTRUCTING = {"ClientSession(", "TCPConnector("}


def test_only_the_known_network_modules_reach_out_and_each_checks_its_allowlist() -> None:
    """Static: a module that opens connections or sends requests is one of the known ones, and
    calls check_url; the session builder only constructs; the rest only name network types."""
    active: set[str] = set()
    for path in sorted([*REPO.glob("src/**/*.py"), *REPO.glob("setup/*.py"), REPO / "main.py"]):
        rel = str(path.relative_to(REPO))
        imported = imports_of(path)
        if not imports_any(imported, NETWORK_LIBS):
            continue
        source = path.read_text()
        if imports_any(imported, SELF_CONNECTING_LIBS):
            assert rel in GUARDED_SENDERS, f"{rel} uses a self-connecting network library outside the guarded senders"
            assert "check_url(" in source and "only_hosts(" in source, f"{rel} sends without the host guard"
            continue
        if rel in SESSION_BUILDERS:
            sends = {m.group(0) for m in ACTIVE_CALLS.finditer(source)} - CONSTRUCTING
            assert not sends, f"{rel} only builds sessions, yet calls {sorted(sends)}"
            continue
        if ACTIVE_CALLS.search(source):
            active.add(rel)
            assert "check_url(" in source, f"{rel} reaches the network without src.net.allowlist.check_url"
    assert active == REQUESTERS


def test_the_notification_sender_is_held_to_its_hosts_at_run_time() -> None:
    """Not just present in the source: a send whose library reaches another host is refused before it connects."""
    import requests

    from src.net.allowlist import HostNotAllowedError
    from src.net.connection_guard import only_hosts
    from src.notify.apprise_sender import AppriseSender, NotifyConfigError

    with only_hosts(frozenset({"api.telegram.org"})):
        with pytest.raises(HostNotAllowedError):
            requests.get("https://elsewhere.example/", timeout=1)
    with pytest.raises(NotifyConfigError):
        AppriseSender(["https://hooks.example.com/x"])  # a scheme whose host cannot be validated
    sender = AppriseSender(["tgram://123456789:AAH" + "abcdefghijklmnopqrstuvwxyz" + "012345/987654321"])
    assert sender.allowed_hosts == frozenset({"api.telegram.org"})
    assert "AAHabc" not in repr(sender)
    sender.close()


async def test_kalshi_checks_every_request_and_follows_no_redirect(monkeypatch, secrets) -> None:
    """Every request (retries and pages included) passes check_url with an allowlisted URL; a 302 (to a
    foreign host or to another Kalshi host) is an error, never followed; only Kalshi names are resolved."""
    import src.platforms.kalshi as kalshi
    import src.platforms.kalshi_transport as transport
    from src.net.backoff import RetryPolicy
    from tests.fakes.fault_daemon import recording_connector
    from tests.fakes.kalshi_server import start_fake_kalshi

    checked: list[str] = []
    real_check = transport.check_url

    def counting_check(url, hosts, schemes):
        checked.append(url)
        return real_check(url, hosts, schemes)

    monkeypatch.setattr(transport, "check_url", counting_check)
    lookups: list[str] = []
    async with start_fake_kalshi(secrets.private_key, key_id=secrets.key_id) as server:
        fake = server.fake
        now = time.time()
        for i in range(5):
            fake.add_market(f"KXBTC15M-SECTEST-{i:02d}", open_ts=now - 60, close_ts=now + 600 + i,
                            floor_strike="65000", event="KXBTC15M-SECTEST")
        fake.page_size = 2
        client = server.client(connector_factory=recording_connector(server, lookups),
                               retry_policy=RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.02))
        async with client:
            fake.fail_next(500, times=2, path="/markets")
            assert len(await client.get_markets(series_ticker="KXBTC15M")) == 5
            await client.get_balance()
            before = len(fake.requests)
            for location in ("https://evil.example/steal", "https://external-api.kalshi.com/trade-api/v2/markets"):
                fake.redirect_next(location, path="/exchange/status")
                with pytest.raises(kalshi.KalshiAPIError) as info:
                    await client.get_exchange_status()
                assert info.value.status == 302 and info.value.code == "redirect_refused"
            fake.redirect_next("https://evil.example/orders", method="POST", path="/portfolio/events/orders")
            with pytest.raises(kalshi.KalshiAPIError):
                from src.model.models import Side

                await client.place_order("KXBTC15M-SECTEST-00", Side.YES, Decimal("1"), Decimal("0.5"), "pb" + "1" * 32)
            redirected = fake.requests[before:]
        assert [r.path for r in redirected] == ["/exchange/status", "/exchange/status", "/portfolio/events/orders"]
        assert len(checked) >= len(fake.requests) and all(
            real_check(u, kalshi.ALLOWED_HOSTS, frozenset({"https"})) for u in checked)
        assert lookups and set(lookups) <= kalshi.ALLOWED_HOSTS


def test_kalshi_client_refuses_a_base_off_its_allowlist(monkeypatch) -> None:
    """Were a future edit to point an environment elsewhere, the client would refuse to be built, and
    a request to such a base is refused before any connection exists."""
    import src.platforms.kalshi as kalshi
    from src.net.allowlist import HostNotAllowedError

    monkeypatch.setitem(kalshi.ENV_HOSTS, "demo", "demo-api.kalshi.co.evil.example")
    with pytest.raises(HostNotAllowedError):
        kalshi.KalshiClient(env="demo")
    monkeypatch.undo()
    made: list[int] = []
    client = kalshi.KalshiClient(env="demo", connector_factory=lambda: made.append(1))  # type: ignore[arg-type,func-returns-value]
    client._market = kalshi._Target("https://evil.example/trade-api/v2", signed=False)
    with pytest.raises(HostNotAllowedError):
        asyncio.run(client.get_exchange_status())
    assert made == []  # refused before a connector (let alone a connection) was made


@pytest.mark.parametrize(
    ("source", "url"),
    [
        ("binance", "wss://evil.example:9443/ws/btcusdt@trade"),
        ("binance", "wss://stream.binance.us:9443/ws/btcusdt@trade"),  # the other source's host
        ("binance", "ws://stream.binance.com:9443/ws/btcusdt@trade"),  # plain text
        ("binance_us", "wss://stream.binance.com:9443/ws/btcusdt@trade"),
        ("coinbase", "wss://ws-feed.exchange.coinbase.com.evil.example"),
        ("coinbase", "wss://user:pw@ws-feed.exchange.coinbase.com"),
    ],
)
async def test_feeds_refuse_urls_off_their_allowlist_before_connecting(source, url) -> None:
    from src.data.binance import BinanceFeed
    from src.data.coinbase import CoinbaseFeed
    from src.net.allowlist import HostNotAllowedError

    dialed: list[str] = []

    def connect(uri, **kwargs):
        dialed.append(uri)
        raise AssertionError("the feed dialed a URL off its allowlist")

    if source == "coinbase":
        feed = CoinbaseFeed(time.time, url=url, connect=connect)
    else:
        feed = BinanceFeed(time.time, source=source, url=url, connect=connect)
    with pytest.raises(HostNotAllowedError):
        await asyncio.wait_for(feed.run(), 5)
    assert dialed == []


async def test_feed_does_not_follow_a_websocket_redirect_off_its_allowlist() -> None:
    """The venue's handshake answers 302 to another server. The allowlist checked only the URL the feed
    asked for, so following the redirect would stream prices from a host nobody checked.

    The transport is injected the way every feed test injects it (a connect factory that dials the
    local fake with websockets' own connect); redirect handling is websockets' and the feed's.
    """
    from websockets.asyncio.server import serve
    from websockets.datastructures import Headers
    from websockets.http11 import Response

    from src.data.binance import BinanceFeed
    from tests.fakes.binance_server import FakeBinanceServer
    from tests.fakes.fake_ws import ws_connect

    async with FakeBinanceServer() as elsewhere:
        elsewhere.start_stream(0.01)

        async def redirect(connection, request):
            return Response(302, "Found", Headers([("Location", f"{elsewhere.url}")]), b"")

        venue = await serve(lambda ws: asyncio.sleep(0), "127.0.0.1", 0, process_request=redirect)
        port = next(iter(venue.sockets)).getsockname()[1]
        dialed: list[str] = []

        def connect(uri, **kwargs):
            dialed.append(uri)
            return ws_connect(f"ws://127.0.0.1:{port}/ws/btcusdt@trade", **kwargs)

        feed = BinanceFeed(time.time, connect=connect)
        task = asyncio.ensure_future(feed.run())
        try:
            await asyncio.sleep(1.5)
        finally:
            feed.stop()
            await asyncio.wait({task}, timeout=5)
            venue.close()
        assert dialed and set(dialed) == {BINANCE_URL}
        assert elsewhere.accepted == 0, "the feed followed a redirect to a host its allowlist never checked"
        assert feed.ticks == 0


async def test_kalshi_websocket_does_not_follow_a_redirect_off_its_allowlist(rsa_private_key) -> None:
    """The same for the Kalshi websocket: a 302 from the (fake) venue to a host it never checked is refused,
    and the signed handshake headers never reach that host."""
    from websockets.asyncio.server import serve
    from websockets.datastructures import Headers
    from websockets.http11 import Response

    from src.auth.kalshi_auth import KalshiAuth
    from src.data.kalshi_ws import PROD_WS_URL, KalshiWs, KalshiWsTiming
    from src.net.allowlist import HostNotAllowedError
    from tests.fakes.fake_ws import ws_connect
    from tests.fakes.kalshi_ws_server import FakeKalshiWs

    async with FakeKalshiWs({"k": rsa_private_key.public_key()}) as elsewhere:

        async def redirect(connection, request):
            return Response(302, "Found", Headers([("Location", elsewhere.url)]), b"")

        venue = await serve(lambda ws: asyncio.sleep(0), "127.0.0.1", 0, process_request=redirect)
        port = next(iter(venue.sockets)).getsockname()[1]
        dialed: list[str] = []

        def connect(uri, **kwargs):
            dialed.append(uri)
            return ws_connect(f"ws://127.0.0.1:{port}/trade-api/ws/v2", **kwargs)

        ws = KalshiWs(url=PROD_WS_URL, signer=KalshiAuth("k", rsa_private_key), clock=time.time, connect=connect,
                      timing=KalshiWsTiming(max_backoff_s=0.2, base_backoff_s=0.05))
        task = asyncio.ensure_future(ws.run())
        try:
            # A refused redirect is final (retrying cannot help): run() ends. Wait for that, bounded.
            await asyncio.wait({task}, timeout=10)
            assert task.done(), "the Kalshi websocket kept going after its redirect was refused"
            assert isinstance(task.exception(), HostNotAllowedError)
        finally:
            ws.stop()
            await asyncio.wait({task}, timeout=5)
            venue.close()
        assert dialed and set(dialed) == {PROD_WS_URL}
        assert elsewhere.handshakes == 0 and elsewhere.rejected == [], "followed a redirect off the allowlist"
        assert not ws.connected and ws.connects == 0


async def test_every_websocket_dial_passes_the_allowlist_first(monkeypatch, rsa_private_key) -> None:
    """The static check sees check_url in src/net/ws_session.py; this sees it run: every dial of the Kalshi
    websocket (reconnects included) is checked, against Kalshi's websocket hosts, before it is made."""
    from typing import Any

    import src.net.ws_session as ws_session
    from src.auth.kalshi_auth import KalshiAuth
    from src.data.kalshi_ws import ALLOWED_HOSTS, PROD_WS_URL, KalshiWs, KalshiWsTiming
    from tests.fakes.kalshi_ws_server import FakeKalshiWs

    order: list[tuple[str, str]] = []
    real_check = ws_session.check_url

    def counting_check(url: str, hosts: frozenset[str], schemes: frozenset[str]) -> str:
        assert hosts == ALLOWED_HOSTS and schemes == frozenset({"wss"})
        order.append(("check", url))
        return real_check(url, hosts, schemes)

    monkeypatch.setattr(ws_session, "check_url", counting_check)
    async with FakeKalshiWs({"k": rsa_private_key.public_key()}) as fake:

        def connect(uri: str, **kwargs: Any) -> Any:
            order.append(("dial", uri))
            return fake.connect(uri, **kwargs)

        ws = KalshiWs(url=PROD_WS_URL, signer=KalshiAuth("k", rsa_private_key), clock=time.time, connect=connect,
                      timing=KalshiWsTiming(max_backoff_s=0.05, base_backoff_s=0.01))
        task = asyncio.ensure_future(ws.run())
        try:
            for handshakes in (1, 2, 3):
                await fake.wait_for(lambda n=handshakes: ws.connected and fake.handshakes == n)
                await fake.drop()
        finally:
            ws.stop()
            await asyncio.wait({task}, timeout=5)
    dials = [i for i, (what, _) in enumerate(order) if what == "dial"]
    assert len(dials) >= 3
    for i in dials:
        assert i > 0 and order[i - 1] == ("check", PROD_WS_URL), f"dial {i} was not checked first: {order}"


async def test_polymarket_client_and_tracker_refuse_other_hosts_and_follow_no_redirect() -> None:
    from src.config import WhaleConfig
    from src.data.whale_tracker import DATA_API_HOSTS, WhaleTracker
    from src.net.allowlist import HostNotAllowedError
    from src.net.backoff import RetryPolicy
    from src.net.poly_http import PolyHttpError
    from src.platforms.polymarket import CLOB_HOSTS, PolymarketClient
    from tests.fakes.polymarket_data_server import FakeDataApi
    from tests.fakes.polymarket_server import CLOB_HOST, DATA_HOST, FakeClob, Fault, LoopbackTLS, connector_factory

    for url in ("https://evil.example", "https://clob.polymarket.com.evil.example", "http://clob.polymarket.com",
                "https://data-api.polymarket.com"):
        with pytest.raises(HostNotAllowedError):
            PolymarketClient(base_url=url)
    for url in ("https://evil.example", "https://clob.polymarket.com", "http://data-api.polymarket.com"):
        with pytest.raises(HostNotAllowedError):
            WhaleTracker(WhaleConfig(), time.time, base_url=url)
    tls = LoopbackTLS()
    lookups: list[str] = []
    policy = RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.02)
    clob, data = FakeClob(tls), FakeDataApi(tls)
    await clob.start()
    await data.start()
    ports = {CLOB_HOST: clob.port, DATA_HOST: data.port}
    try:
        moved = Fault(status=302, headers={"Location": f"https://{DATA_HOST}/book"})
        clob.fail("/book", moved)
        data.fail("/v1/leaderboard", Fault(status=307, headers={"Location": "https://evil.example/v1/leaderboard"}))
        client = PolymarketClient(connector_factory=connector_factory(tls, ports, lookups), retry_policy=policy)
        tracker = WhaleTracker(WhaleConfig(), time.time, connector_factory=connector_factory(tls, ports, lookups),
                               retry_policy=policy)
        try:
            with pytest.raises(PolyHttpError) as info:
                await client.get_orderbook("1234")
            assert info.value.status == 302
            with pytest.raises(PolyHttpError) as info:
                await tracker.refresh_whales()
            assert info.value.status == 307
        finally:
            await client.close()
            await tracker.close()
        assert len(clob.hits("/book")) == 1 and data.hits("/book") == []
        assert len(data.hits("/v1/leaderboard")) == 1
        assert set(lookups) <= CLOB_HOSTS | DATA_API_HOSTS
    finally:
        await clob.stop()
        await data.stop()
        tls.cleanup()


# ----------------------------------------------------------------------------------------------------
# files: .env is never written, nothing is written outside the project


def test_no_code_path_writes_dotenv() -> None:
    """Static: the only mention of .env in src/, setup/ and main.py is the path load_secrets reads."""
    mentions = []
    for path in sorted([*REPO.glob("src/**/*.py"), *REPO.glob("setup/*.py"), REPO / "main.py"]):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and re.search(
                r"(^|/)\.env$", node.value
            ):
                mentions.append((str(path.relative_to(REPO)), node.lineno))
    assert [where for where, _ in mentions] == ["src/config.py"], mentions
    source = (REPO / "src" / "config.py").read_text()
    assert "dotenv_values" in source and "set_key" not in source and "write_text" not in source
    for path in sorted([*REPO.glob("src/**/*.py"), *REPO.glob("setup/*.py"), REPO / "main.py"]):
        text = path.read_text()
        assert not re.search(r"dotenv\.(set_key|unset_key)|\.env[\"']\s*,\s*[\"'][wa]", text), path


def test_daemon_runs_leave_dotenv_alone(capfd, tmp_path, secrets) -> None:
    """With no .env, nothing creates one; with one, its bytes and mtime are untouched by a full run."""
    import main

    replay = _replay_file(tmp_path / "prices.csv", hours=1)
    bare = make_project(tmp_path / "bare")
    assert main.main(["--sim", "--speed", "100000", "--replay", str(replay)], root=bare) == 0
    assert not (bare / ".env").exists()
    root = make_project(tmp_path / "full", env_text=secrets.env_text())
    env = root / ".env"
    before = (env.read_bytes(), env.stat().st_mtime_ns, env.stat().st_mode)
    assert main.main(["--sim", "--speed", "100000", "--replay", str(replay)], root=root) == 0
    assert main.main(["--report", "--mode", "sim"], root=root) in (0, 2)
    assert (env.read_bytes(), env.stat().st_mtime_ns, env.stat().st_mode) == before
    capfd.readouterr()


def test_sim_subprocess_writes_nothing_outside_its_project(tmp_path) -> None:
    """`python main.py --sim` from a temporary copy of the repository, to its natural end (a replay of a
    few simulated hours at high speed). Every file the process tree opened for writing, created, renamed
    or removed is inside the copy: checked on its syscalls (strace, when tracing is allowed here) and on
    Python's audit events; HOME and TMPDIR are fresh directories that must stay empty; the real
    repository's runtime files (data/, logs/, lock, .env, ...) are unchanged."""
    from tests.fakes.fault_fswatch import (
        audit_writes,
        changed,
        outside,
        snapshot,
        strace_command,
        strace_usable,
        strace_writes,
    )
    from tests.fakes.fault_project import copy_repo

    copy = copy_repo(tmp_path / "copy")
    replay = _replay_file(tmp_path / "prices.csv", hours=3)
    home, tmpdir = tmp_path / "home", tmp_path / "tmpdir"
    home.mkdir()
    tmpdir.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "TMPDIR": str(tmpdir),
        "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",  # the interpreter's own .pyc cache is not the bot
    }
    runtime = [REPO / name for name in ("data", "logs", ".env", "kill_switch.lock", "BLOCKERS.md",
                                        "KILL_SWITCH_EVENT.log", "USER_CONFIG.json", "config.yaml")]
    before = snapshot(runtime)
    argv = [sys.executable, str(copy / "tests" / "fakes" / "fault_audit_run.py"), str(copy / "main.py"),
            "--sim", "--speed", "100000", "--replay", str(replay)]
    traced = strace_usable()
    prefix = tmp_path / "strace" / "trace"
    prefix.parent.mkdir()
    if traced:
        argv = strace_command(prefix) + argv
    done = subprocess.run(argv, cwd=copy, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    audited = audit_writes(done.stderr)
    assert any(path.endswith("sim.db") for _, path in audited), "the audit hook saw no database write"
    assert outside(audited, copy) == []
    if traced:
        syscalls = strace_writes(prefix, copy)
        assert any(path.endswith("sim.db-wal") for _, path in syscalls), "strace saw no SQLite write"
        assert outside(syscalls, copy) == []
    assert list(home.iterdir()) == [] and list(tmpdir.iterdir()) == []
    assert changed(before, snapshot(runtime)) == []
    assert not (copy / ".env").exists()
    assert (copy / "data" / "sim.db").is_file()


# ----------------------------------------------------------------------------------------------------
# live mode: three guards, each required


@pytest.mark.parametrize(
    ("env_ok", "flag", "tty", "answer", "refusal"),
    [
        (False, True, True, "LIVE", "LIVE_TRADING=true is not set"),
        (True, False, True, "LIVE", "--live flag was not given"),
        (True, True, False, "LIVE", "no terminal attached"),
        (False, False, False, "LIVE", "LIVE_TRADING=true is not set"),
        (True, True, True, "live", "was not the word LIVE"),
        (True, True, True, "LIVE!", "was not the word LIVE"),
        (True, True, True, "", "was not the word LIVE"),
        (True, True, True, EOFError, "no confirmation was typed"),
        (True, True, True, KeyboardInterrupt, "no confirmation was typed"),
    ],
)
def test_each_live_guard_is_required(env_ok, flag, tty, answer, refusal) -> None:

    from src.execution.live import LiveGuardError, check_live_guards

    prompts: list[str] = []

    def typed(prompt: str) -> str:
        prompts.append(prompt)
        if isinstance(answer, type):
            raise answer
        return answer

    out = io.StringIO()
    with pytest.raises(LiveGuardError) as info:
        check_live_guards(env_ok, flag, tty, typed, out)
    message = str(info.value)
    assert refusal in message and "\n" not in message
    asked = env_ok and flag and tty
    assert len(prompts) == (1 if asked else 0)  # the prompt comes only after the rest pass
    # The real-money warning is shown only to someone who is then asked to confirm.
    assert ("REAL money" in out.getvalue()) is asked


def test_all_three_live_guards_together_pass() -> None:

    from src.execution.live import WARNING_BANNER, check_live_guards

    out = io.StringIO()
    prompts: list[str] = []
    check_live_guards(True, True, True, lambda prompt: prompts.append(prompt) or " LIVE\n", out)
    assert WARNING_BANNER.strip() in out.getvalue() and len(prompts) == 1


def _run_offline(copy_or_repo: Path, argv: list[str], *, stdin=subprocess.DEVNULL, timeout: float = 60):
    return subprocess.run(
        [sys.executable, str(REPO / "tests" / "fakes" / "fault_offline_run.py"), str(copy_or_repo / "main.py"), *argv],
        cwd=copy_or_repo, stdin=stdin, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )


@pytest.mark.parametrize("live_trading", ["true", "false"])
def test_live_without_a_terminal_exits_5_in_one_line_before_any_network(tmp_path, secrets, live_trading) -> None:
    """`main.py --live` with stdin not a terminal: exit 5 and one `error:` line, and not a single DNS
    lookup or connection first (the process runs with the network cut and reports any attempt)."""
    from tests.fakes.fault_offline_run import MARK

    root = make_project(tmp_path, env_text=secrets.env_text(live_trading=live_trading == "true"))
    copy_code(root)
    done = _run_offline(root, ["--live"])
    attempts = [line for line in done.stderr.splitlines() if line.startswith(MARK)]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert attempts == [], f"live mode reached for the network before refusing: {attempts[:3]}"
    assert done.returncode == 5, done.stderr[-2000:]
    assert len(errors) == 1 and "live trading refused" in errors[0], done.stderr
    assert "Traceback" not in done.stderr
    assert_no_leaks("output", find_leaks(done.stdout + done.stderr, secrets.needles()))


@pytest.mark.parametrize("tty", [False, True])
def test_live_daemon_refuses_without_confirmation_and_sends_no_order(monkeypatch, capfd, tmp_path, secrets, tty):
    """The real start-up in --live against the fakes: no terminal, or a terminal where the word typed is
    not LIVE -> exit 5, one `error:` line, and the order endpoint is never called."""
    root = make_project(tmp_path, config=FAST, env_text=secrets.env_text(live_trading=True))
    satisfy_live_guards(monkeypatch, typed="yes please")
    if not tty:
        monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    state: dict[str, object] = {}

    async def scenario(run: DaemonRun) -> None:
        state["fake"] = run.kalshi.fake
        await asyncio.sleep(60)  # cancelled when the start-up refuses

    code, run = run_main(monkeypatch, ["--live"], root, scenario, key=secrets.private_key, key_id=secrets.key_id,
                         setup=add_test_market, must_reach_daemon=False)
    out, err = capfd.readouterr()
    assert code == 5, err[-2000:]
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "live trading refused" in errors[0]
    if not tty:
        assert run is None  # refused before the start-up reached the network
    else:
        assert run is not None and run.engine is None
        assert [r for r in run.kalshi.fake.requests if r.method != "GET"] == []
    assert_no_leaks("output", find_leaks(out + err, secrets.needles()))


# ----------------------------------------------------------------------------------------------------
# the kill switch lock: survives restarts, config and flags


LOCK_ARGVS = [
    ["--paper"], ["--sim"], ["--live"], ["--verify"], [],
    ["--paper", "--config", "other.yaml"], ["--sim", "--config", "other.yaml"], ["--live", "--config", "other.yaml"],
    ["--paper", "--config", "missing.yaml"], ["--sim", "--config", "/nonexistent/config.yaml"],
]


@pytest.mark.parametrize("lock_text", ["json", "garbage", "empty"])
def test_kill_switch_lock_refuses_every_daemon_start(capfd, tmp_path, secrets, lock_text) -> None:
    import main
    from src.risk.lockfile import lock_path, write_lock

    root = make_project(tmp_path, config={"risk": {"max_trades_per_hour": 10}},
                        env_text=secrets.env_text(live_trading=True))
    (root / "other.yaml").write_text((root / "config.yaml").read_text())
    if lock_text == "json":
        write_lock(root, {"reason": "total_loss", "at": "2026-11-23T00:00:00Z", "message": "test"})
    else:
        lock_path(root).write_text("" if lock_text == "empty" else "{not json")
    for argv in LOCK_ARGVS:
        assert main.main(argv, root=root) == 3, argv
    out, err = capfd.readouterr()
    assert err.count("REFUSING TO START") == len(LOCK_ARGVS)
    assert not (root / "data" / "paper.db").exists() and not (root / "data" / "sim.db").exists()
    assert lock_path(root).exists()


def test_kill_switch_lock_refuses_a_subprocess_start(tmp_path, secrets) -> None:
    from src.risk.lockfile import write_lock
    from tests.fakes.fault_offline_run import MARK

    root = make_project(tmp_path, env_text=secrets.env_text(live_trading=True))
    copy_code(root)
    write_lock(root, {"reason": "bankroll_floor", "at": "2026-11-23T00:00:00Z", "message": "test"})
    done = _run_offline(root, ["--live", "--config", "missing.yaml"])
    assert done.returncode == 3 and "REFUSING TO START" in done.stderr
    assert not [line for line in done.stderr.splitlines() if line.startswith(MARK)]


def _seed_loss(root: Path, mode: Mode, pnl: str) -> None:
    """One settled losing trade in the mode's database (a $100 starting bankroll: -40 is a 40% loss)."""
    from src.model.models import Fill, OrderIntent, Side

    db = Database(db_path_for(root, mode))
    ts = time.time() - 3600
    intent = OrderIntent("KXBTC15M-26MAR020015-15", Side.YES, Decimal("100"), Decimal("0.40"), "pb" + "2" * 32)
    db.insert_order_intent(intent, ts, status="pending")
    fill = Fill("venue-1", intent.ticker, Side.YES, Decimal("100"), Decimal("0.40"), Decimal("0"), ts, "f1")
    trade_id = db.record_execution(intent.client_order_id, ts, status="executed", venue_order_id="venue-1",
                                   fills=[fill])
    if trade_id is None:
        raise AssertionError("seeding failed")
    db.settle_trade(trade_id, ts + 60, result="no", payout=Decimal("0"), pnl=Decimal(pnl),
                    day=time.strftime("%Y-%m-%d", time.gmtime(ts + 60)), bankroll_after=Decimal("100") + Decimal(pnl))
    db.close()


async def _stop_when_running(run: DaemonRun) -> None:
    await run.wait_engine()


def test_hard_stop_writes_a_lock_that_survives_restarts_flags_and_config(monkeypatch, capfd, tmp_path, secrets):
    """Paper trading with a 40% loss on the books: the start-up HARD STOPs (exit 3, orders cancelled,
    kill_switch.lock written); afterwards every start refuses at step 1, whatever the mode or config."""
    import main

    root = make_project(tmp_path, config=FAST, env_text=secrets.env_text(live_trading=True))
    _seed_loss(root, Mode.PAPER, "-40.00")
    code, run = run_main(monkeypatch, ["--paper"], root, _stop_when_running, key=secrets.private_key,
                         key_id=secrets.key_id)
    out, err = capfd.readouterr()
    assert code == 3 and run.engine is None
    lock = json.loads((root / "kill_switch.lock").read_text())
    assert lock.get("reason") == "total_loss"
    (root / "other.yaml").write_text((root / "config.yaml").read_text())
    for argv in (["--paper"], ["--sim"], ["--live"], ["--paper", "--config", "other.yaml"], ["--sim", "--speed", "5"]):
        assert main.main(argv, root=root) == 3, argv
    assert capfd.readouterr().err.count("REFUSING TO START") == 5
    # build_and_run hands the kill switch a cancel_all closure over `executor`, which is only assigned
    # after the kill switch is built: a HARD STOP found at start-up cannot cancel resting orders.
    assert "cancel_all FAILED" not in err and "PROBLEM:" not in err, (
        "the start-up HARD STOP could not cancel open orders: " + err[err.find("Orders:"):][:200])


def test_a_simulated_hard_stop_locks_the_simulator_only(monkeypatch, capfd, tmp_path, secrets) -> None:
    """The simulator's HARD STOP writes its own lock (data/sim/): --sim refuses from then on, while paper
    trading, whose bankroll it never touched, still starts."""
    import main

    root = make_project(tmp_path, config=FAST, env_text=secrets.env_text())
    _seed_loss(root, Mode.SIM, "-40.00")
    assert main.main(["--sim", "--speed", "1000"], root=root) == 3
    assert (root / "data" / "sim" / "kill_switch.lock").is_file()
    assert main.main(["--sim", "--speed", "1000"], root=root) == 3
    out, err = capfd.readouterr()
    assert "REFUSING TO START" in err
    code, run = run_main(monkeypatch, ["--paper"], root, _stop_when_running, key=secrets.private_key,
                         key_id=secrets.key_id)
    assert code == 0 and run.engine is not None
    capfd.readouterr()


# ----------------------------------------------------------------------------------------------------
# code rules


def test_no_assert_statements_validate_anything_under_src() -> None:
    """Validation raises (ValueError, RuntimeError, ...): `python -O` strips assert statements."""
    found = [
        f"{path.relative_to(REPO)}:{node.lineno}"
        for path in sorted(REPO.glob("src/**/*.py"))
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Assert)
    ]
    main_tree = ast.parse((REPO / "main.py").read_text())
    found += [f"main.py:{node.lineno}" for node in ast.walk(main_tree) if isinstance(node, ast.Assert)]
    assert found == []
