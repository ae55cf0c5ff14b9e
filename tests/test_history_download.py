"""--download-history end to end against the local fakes: files, resume after an interruption, idempotence."""

from __future__ import annotations

import asyncio
import io
from datetime import date

import pytest

from src.data.btc_history import SOURCES, BtcHistoryClient
from src.data.history_store import HistoryStore, read_jsonl
from src.data.kalshi_history import KALSHI_HISTORY_HOSTS, KalshiHistoryClient
from src.data.price_files import load_ticks
from src.net.backoff import RetryPolicy
from src.net.public_http import PublicHttp, PublicHttpError
from src.research.history_download import download_history
from tests.fakes.history_server import FakeHistory, FakeHistoryServer, start_fake_history

DAY1 = date(2026, 5, 29)
T1 = 1_780_012_800.0  # DAY1 00:00 UTC
LATER = T1 + 30 * 86_400


async def _nosleep(_s: float) -> None:
    await asyncio.sleep(0)


def clients(server: FakeHistoryServer, *, attempts: int = 8) -> tuple[KalshiHistoryClient, BtcHistoryClient]:
    policy = RetryPolicy(max_attempts=attempts, base_delay_s=0.01, max_delay_s=0.02, budget_s=5)
    k = PublicHttp(KALSHI_HISTORY_HOSTS, per_second=1000, connector_factory=server.connector, sleep=_nosleep,
                   retry_policy=policy)
    b = PublicHttp(SOURCES["binance"].hosts, per_second=1000, connector_factory=server.connector, sleep=_nosleep,
                   retry_policy=policy)
    return KalshiHistoryClient(k), BtcHistoryClient("binance", b)


async def run(server: FakeHistoryServer, store: HistoryStore, first: date, last: date, **kw):  # type: ignore[no-untyped-def]
    kalshi, btc = clients(server, **kw)
    async with kalshi.http, btc.http:
        return await download_history(store, first, last, kalshi, btc, progress=io.StringIO(), now=lambda: LATER)


def all_trade_ids(store: HistoryStore, day: date) -> list[str]:
    return [r["trade_id"] for p in sorted((store.day_dir(day) / "trades").glob("*.jsonl")) for r in read_jsonl(p)]


async def test_two_days_download_into_the_store_and_a_rerun_asks_for_nothing(tmp_path) -> None:
    # BTC traded only in the first two hours of each day: the walk still covers the whole day.
    fake = FakeHistory(page_size=4, btc_spans=[(T1, T1 + 7200), (T1 + 86_400, T1 + 86_400 + 7200)])
    fake.add_day(T1, windows=6, trades=9)
    fake.add_day(T1 + 86_400, windows=5, trades=3)
    fake.fail_next(2, 429, path="/markets/trades")
    store = HistoryStore(tmp_path / "history")
    async with start_fake_history(fake) as server:
        stats = await run(server, store, DAY1, date(2026, 5, 30))
        assert stats.markets == 11 and stats.markets_fetched == 11 and stats.trades == 6 * 9 + 5 * 3
        assert stats.candles == 11 * 15 and stats.btc_rows == 2 * 7200 and not stats.failed
        assert store.is_complete(DAY1) and store.is_complete(date(2026, 5, 30))
        expected = [r["trade_id"] for rows in list(fake.trades.values())[:6] for r in rows]
        assert sorted(all_trade_ids(store, DAY1)) == sorted(expected)
        # floor_strike (a JSON number) comes back as the same number
        row = next(read_jsonl(store.markets_path(DAY1)))
        assert str(row["floor_strike"]) == str(fake.markets[0]["floor_strike"])
        ticks = load_ticks(store.btc_path("binance", DAY1))
        assert len(ticks) == 4 * 7200 and T1 <= ticks[0][0] and ticks[-1][0] < T1 + 7200
        before = len(fake.requests)
        again = await run(server, store, DAY1, date(2026, 5, 30))
        assert len(fake.requests) == before  # everything was complete: not one request
        assert again.days_skipped_complete == 2 and again.rows == 0


async def test_an_interrupted_download_resumes_without_duplicates_or_refetching(tmp_path) -> None:
    fake = FakeHistory(page_size=3)
    tickers = fake.add_day(T1, windows=10, trades=8)
    store = HistoryStore(tmp_path / "h")
    async with start_fake_history(fake) as server:
        kalshi, _ = clients(server, attempts=2)
        fake.fail_after(25)  # the server dies part way through the day
        with pytest.raises(PublicHttpError):
            async with kalshi.http:
                await download_history(store, DAY1, DAY1, kalshi, None, progress=None, now=lambda: LATER)
        done_first = [t for t in tickers if store.market_done(DAY1, t)]
        assert 0 < len(done_first) < len(tickers) and not store.is_complete(DAY1)
        fake.fail_after(None)
        mark = len(fake.requests)
        kalshi, _ = clients(server)
        async with kalshi.http:
            stats = await download_history(store, DAY1, DAY1, kalshi, None, progress=None, now=lambda: LATER)
        asked = {q.get("ticker") for _, p, q in fake.requests[mark:] if p == "/markets/trades"}
        assert asked == set(tickers) - set(done_first)  # the finished markets were not fetched again
        assert stats.markets_skipped == len(done_first) and store.is_complete(DAY1)
    ids = all_trade_ids(store, DAY1)
    assert len(ids) == len(set(ids)) == 10 * 8


async def test_days_not_ended_are_skipped_and_a_bad_market_fails_alone(tmp_path) -> None:
    fake = FakeHistory()
    tickers = fake.add_day(T1, windows=3, trades=4)
    fake.trades[tickers[1]][2]["yes_price_dollars"] = "1.7"  # malformed print
    store = HistoryStore(tmp_path / "h")
    out = io.StringIO()
    async with start_fake_history(fake) as server:
        kalshi, _ = clients(server)
        async with kalshi.http:
            # day 2 has not ended; day 1 ended 59 minutes ago: its last markets may not be settled yet
            stats = await download_history(store, DAY1, date(2026, 5, 30), kalshi, None, progress=out,
                                           now=lambda: T1 + 86_400 + 3540)
        assert stats.days_not_ended == 2 and stats.markets == 0
        kalshi, _ = clients(server)
        async with kalshi.http:
            stats = await download_history(store, DAY1, date(2026, 5, 30), kalshi, None, progress=out,
                                           now=lambda: T1 + 86_400 + 3600)
        assert stats.days_not_ended == 1 and len(stats.failed) == 1 and tickers[1] in stats.failed[0]
        assert not store.is_complete(DAY1) and store.market_done(DAY1, tickers[0])
        assert "not ended yet" in out.getvalue() and "rerun" in stats.summary()
        fake.trades[tickers[1]][2]["yes_price_dollars"] = "0.5000"
        kalshi, _ = clients(server)
        async with kalshi.http:
            stats = await download_history(store, DAY1, DAY1, kalshi, None, progress=None, now=lambda: LATER)
        assert stats.markets_fetched == 1 and store.is_complete(DAY1)


async def test_the_command_downloads_prints_one_summary_and_a_rerun_is_a_no_op(tmp_path) -> None:
    """run_download is what `main.py --download-history` runs; only the transport is injected."""
    from src.config import load_settings
    from src.research.history_cli import run_download
    from tests.conftest import REPO

    settings = load_settings(root=REPO)
    fake = FakeHistory(page_size=50, btc_spans=[(T1, T1 + 3600)])  # few pages: this client is polite (5/s)
    fake.add_day(T1, windows=4, trades=5)
    async with start_fake_history(fake) as server:
        out = io.StringIO()
        code = await asyncio.to_thread(run_download, settings, "2026-05-29", "2026-05-29", tmp_path / "h",
                                       connector_factory=server.connector, progress=None, out=out)
        assert code == 0, out.getvalue()
        assert "4 settled markets (4 fetched" in out.getvalue() and "20 trades" in out.getvalue()
        out2 = io.StringIO()
        code = await asyncio.to_thread(run_download, settings, "2026-05-29", "2026-05-29", tmp_path / "h",
                                       connector_factory=server.connector, progress=None, out=out2)
        assert code == 0 and "0 trades" in out2.getvalue()


def test_the_progress_bar_redraws_one_line_on_a_terminal_and_prints_days_elsewhere() -> None:
    import time as _time

    from src.research.history_download import ProgressBar

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty, plain = Tty(), io.StringIO()
    for out in (tty, plain):
        bar = ProgressBar(out, total_days=2)
        bar.show(1, DAY1, 48, 96, 12_345, _time.monotonic() - 1)
        bar.day_done(DAY1, 96, "complete")
    assert "\r[" in tty.getvalue() and " 75.0% 2026-05-29 market 48/96 12,345 rows" in tty.getvalue()
    assert plain.getvalue() == "2026-05-29: 96 markets complete".ljust(78) + "\n"


@pytest.mark.usefixtures("daemon_env")
def test_bad_days_are_one_line_usage_errors(capfd, project_dir) -> None:
    import main

    assert main.main(["--download-history", "--from", "2026-02-30", "--to", "2026-03-01"], root=project_dir) == 2
    assert main.main(["--download-history", "--from", "2026-03-02", "--to", "2026-03-01"], root=project_dir) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert err == ["error: --from: '2026-02-30' is not a day (YYYY-MM-DD)",
                   "error: --to 2026-03-01 is before --from 2026-03-02"]


async def test_the_historical_market_listing_is_walked_once_for_the_whole_range(tmp_path) -> None:
    """Kalshi's /historical/markets ignores the close filters (the fake does too): one walk, not one per day."""
    fake = FakeHistory(page_size=5)
    for d in range(3):
        fake.add_day(T1 + d * 86_400, windows=4, trades=2)
    fake.cutoff_ts = T1 + 10 * 86_400  # every day is in the historical tables
    store = HistoryStore(tmp_path / "h")
    async with start_fake_history(fake) as server:
        kalshi, _ = clients(server)
        async with kalshi.http:
            stats = await download_history(store, DAY1, date(2026, 5, 31), kalshi, None, now=lambda: LATER)
    pages = [q for _, p, q in fake.requests if p == "/historical/markets"]
    assert len(pages) == 3  # 12 markets in pages of 5, once
    assert stats.markets == 12 and all(store.is_complete(d) for d in (DAY1, date(2026, 5, 30), date(2026, 5, 31)))
