"""Track the new trades of qualified Polymarket whales, polled from the public Data API (data-api.polymarket.com).

Who is a whale: a wallet on the all-time PnL leaderboard (`GET /v1/leaderboard`) whose PnL is at
least `min_pnl_usd`, with at least `min_trades` trades (`GET /trades?user=`) of which the newest is
no older than `max_inactive_days`. What is new: a trade (transaction hash, token, side) not seen in
an earlier poll of that wallet. The first poll of a wallet only records what is already there, so
old trades never become signals. Several fills of one order in one transaction merge into one
trade (summed size, size-weighted price).

Known limit: a poll reads one page (`trades_page`, newest first); a whale making more trades than
that between two polls loses the oldest ones, which would be too old to copy anyway (max_delay_s).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from src.config import WhaleConfig
from src.model.models import Clock, Side
from src.net.backoff import RetryPolicy, Sleep
from src.net.http_session import ConnectorFactory
from src.net.poly_http import PolyHttp, PolyHttpError, PolyMalformedResponse
from src.net.rate_limit import TokenBucket

log = logging.getLogger(__name__)

DATA_API_URL = "https://data-api.polymarket.com"
DATA_API_HOSTS = frozenset({"data-api.polymarket.com"})
SERVICE = "polymarket-data"
DAY_S = 86_400.0
MAX_PAGE = 500  # the Data API's documented page cap for /trades

QUALIFIED = "qualified"
PNL_BELOW_MIN = "pnl_below_min"
TOO_FEW_TRADES = "too_few_trades"
INACTIVE = "inactive"
TRADES_UNAVAILABLE = "trades_unavailable"


@dataclass(frozen=True, slots=True)
class LeaderboardEntry:
    """One row of `/v1/leaderboard`."""

    wallet: str  # proxy wallet, lower-cased
    name: str
    rank: int
    pnl_usd: Decimal
    volume_usd: Decimal


@dataclass(frozen=True, slots=True)
class Whale:
    """A leaderboard wallet and whether it qualifies to be copied (reason says why not)."""

    wallet: str
    name: str
    rank: int
    pnl_usd: Decimal
    volume_usd: Decimal
    trade_count: int  # trades seen, up to what qualification needed to read
    last_trade_ts: float | None
    reason: str

    @property
    def qualified(self) -> bool:
        return self.reason == QUALIFIED


@dataclass(frozen=True, slots=True)
class TradeRow:
    """One trade of `/trades` (several fills of one transaction already merged)."""

    wallet: str
    tx_hash: str
    token_id: str
    condition_id: str
    side: str  # "BUY" | "SELL"
    outcome: str
    outcome_index: int
    size: Decimal  # outcome tokens (shares)
    price: Decimal  # dollars per share
    timestamp: float  # epoch seconds
    title: str = ""
    slug: str = ""
    event_slug: str = ""  # the market's event: how a market is found again on Polymarket US

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.tx_hash, self.token_id, self.side)

    @property
    def usd(self) -> Decimal:
        return self.size * self.price


@dataclass(frozen=True, slots=True)
class WhaleTrade:
    """A qualified whale's new trade, as the whale-copy strategy receives it.

    `side` is the side of the venue's book the copy buys: on the international CLOB every
    outcome token is its own YES claim (Side.YES); on Polymarket US a market has one instrument,
    and the whale's outcome is its long (YES) or short (NO) side.
    """

    whale: Whale
    trade: TradeRow
    side: Side = Side.YES


@dataclass(frozen=True, slots=True)
class PollResult:
    """New trades (oldest first), and the wallets whose poll failed this time."""

    trades: tuple[WhaleTrade, ...]
    failed_wallets: tuple[str, ...] = ()


def qualify(pnl_usd: Decimal, trade_count: int, last_trade_ts: float | None, now: float, cfg: WhaleConfig) -> str:
    """The qualification rule: QUALIFIED or the first rule the wallet fails."""
    if pnl_usd < cfg.min_pnl_usd:
        return PNL_BELOW_MIN
    if trade_count < cfg.min_trades:
        return TOO_FEW_TRADES
    if last_trade_ts is None or now - last_trade_ts > cfg.max_inactive_days * DAY_S:
        return INACTIVE
    return QUALIFIED


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise ValueError("not a number")
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise ValueError("not a number") from None
    if not result.is_finite():
        raise ValueError("not finite")
    return result


def parse_leaderboard(payload: Any) -> list[LeaderboardEntry]:
    """Rows of `/v1/leaderboard`; malformed rows are skipped (and logged), a non-list is an error."""
    if not isinstance(payload, list):
        raise PolyMalformedResponse(SERVICE, 200, "leaderboard is not a JSON list")
    entries: list[LeaderboardEntry] = []
    for row in payload:
        try:
            wallet = str(row["proxyWallet"]).lower()
            if not wallet.startswith("0x"):
                raise ValueError("wallet")
            entries.append(
                LeaderboardEntry(
                    wallet=wallet,
                    name=str(row.get("userName") or ""),
                    rank=int(str(row.get("rank") or 0)),
                    pnl_usd=_decimal(row["pnl"]),
                    volume_usd=_decimal(row.get("vol", 0)),
                )
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            log.warning("%s: skipped a malformed leaderboard row", SERVICE)
    return entries


def parse_trades(payload: Any) -> list[TradeRow]:
    """Rows of `/trades`, fills of one (transaction, token, side) merged; malformed rows skipped."""
    if not isinstance(payload, list):
        raise PolyMalformedResponse(SERVICE, 200, "trades is not a JSON list")
    merged: dict[tuple[str, str, str], TradeRow] = {}
    for row in payload:
        try:
            side = str(row["side"]).upper()
            if side not in ("BUY", "SELL"):
                raise ValueError("side")
            trade = TradeRow(
                wallet=str(row["proxyWallet"]).lower(),
                tx_hash=str(row["transactionHash"]).lower(),
                token_id=str(row["asset"]),
                condition_id=str(row.get("conditionId") or ""),
                side=side,
                outcome=str(row.get("outcome") or ""),
                outcome_index=int(row.get("outcomeIndex", -1)),
                size=_decimal(row["size"]),
                price=_decimal(row["price"]),
                timestamp=float(_decimal(row["timestamp"])),
                title=str(row.get("title") or ""),
                slug=str(row.get("slug") or ""),
                event_slug=str(row.get("eventSlug") or ""),
            )
            if not trade.tx_hash.startswith("0x") or not trade.token_id or trade.size <= 0:
                raise ValueError("row")
            if not 0 < trade.price < 1:
                raise ValueError("price")
        except (KeyError, TypeError, ValueError, AttributeError):
            log.warning("%s: skipped a malformed trade row", SERVICE)
            continue
        earlier = merged.get(trade.key)
        merged[trade.key] = trade if earlier is None else _merge(earlier, trade)
    return list(merged.values())


def _merge(a: TradeRow, b: TradeRow) -> TradeRow:
    size = a.size + b.size
    price = (a.usd + b.usd) / size
    return TradeRow(
        a.wallet, a.tx_hash, a.token_id, a.condition_id, a.side, a.outcome, a.outcome_index,
        size, price, max(a.timestamp, b.timestamp), a.title, a.slug, a.event_slug,
    )  # fmt: skip


class _Seen:
    """Trade keys already seen for one wallet, oldest forgotten first past `limit`."""

    def __init__(self, limit: int) -> None:
        self._keys: OrderedDict[tuple[str, str, str], None] = OrderedDict()
        self._limit = limit

    def add(self, key: tuple[str, str, str]) -> bool:
        """True if the key is new."""
        if key in self._keys:
            return False
        self._keys[key] = None
        while len(self._keys) > self._limit:
            self._keys.popitem(last=False)
        return True


class WhaleTracker:
    """Leaderboard -> qualified whales -> their new trades, on data-api.polymarket.com only."""

    def __init__(
        self,
        config: WhaleConfig,
        clock: Clock,
        *,
        base_url: str = DATA_API_URL,
        connector_factory: ConnectorFactory | None = None,
        reads_per_s: Decimal = Decimal("5"),
        bucket: TokenBucket | None = None,
        retry_policy: RetryPolicy = RetryPolicy(),  # frozen: a shared default is safe
        timeout_s: float = 5.0,
        sleep: Sleep = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        leaderboard_limit: int = 50,
        time_period: str = "ALL",
        trades_page: int = 100,
        seen_limit: int = 5_000,
    ) -> None:
        if not 1 <= leaderboard_limit <= 50:
            raise ValueError(f"leaderboard_limit must be 1..50, got {leaderboard_limit}")
        if not 1 <= trades_page <= MAX_PAGE:
            raise ValueError(f"trades_page must be 1..{MAX_PAGE}, got {trades_page}")
        if time_period not in ("DAY", "WEEK", "MONTH", "ALL"):
            raise ValueError(f"time_period must be DAY, WEEK, MONTH or ALL, got {time_period!r}")
        self._cfg = config
        self._clock = clock
        self._http = PolyHttp(
            SERVICE,
            base_url,
            DATA_API_HOSTS,
            timeout_s=timeout_s,
            retry_policy=retry_policy,
            connector_factory=connector_factory,
            sleep=sleep,
            monotonic=monotonic,
        )
        self._bucket = bucket or TokenBucket.per_second(reads_per_s, sleep=sleep)
        self._leaderboard_limit = leaderboard_limit
        self._time_period = time_period
        self._trades_page = trades_page
        self._seen_limit = max(seen_limit, 2 * trades_page)
        self._whales: dict[str, Whale] = {}
        self._seen: dict[str, _Seen] = {}

    @property
    def whales(self) -> tuple[Whale, ...]:
        """Currently qualified whales, best rank first."""
        return tuple(sorted(self._whales.values(), key=lambda w: (w.rank, w.wallet)))

    async def close(self) -> None:
        await self._http.close()

    async def _get(self, path: str, params: dict[str, str]) -> Any:
        return await self._http.request("GET", path, params=params, bucket=self._bucket)

    async def fetch_trades(self, wallet: str, want: int) -> list[TradeRow]:
        """Up to `want` of the wallet's newest trades (maker and taker fills), paging as needed."""
        rows: list[TradeRow] = []
        offset = 0
        while True:
            limit = min(MAX_PAGE, max(1, want - offset))
            params = {"user": wallet, "limit": str(limit), "offset": str(offset), "takerOnly": "false"}
            page = await self._get("/trades", params)
            got = parse_trades(page)
            rows.extend(t for t in got if t.wallet == wallet)
            offset += limit
            if len(page) < limit or offset >= want:
                return rows

    async def leaderboard(self) -> list[LeaderboardEntry]:
        """The all-time PnL leaderboard's top `leaderboard_limit` rows."""
        params = {"category": "OVERALL", "timePeriod": self._time_period, "orderBy": "PNL",
                  "limit": str(self._leaderboard_limit)}  # fmt: skip
        return parse_leaderboard(await self._get("/v1/leaderboard", params))

    async def refresh_whales(self) -> list[Whale]:
        """Re-read the leaderboard and re-qualify every wallet on it; returns all, qualified or not.

        A failed leaderboard read raises (the current whales stay); a wallet whose trades cannot
        be read keeps its previous standing if it had one.
        """
        params = {
            "category": "OVERALL",
            "timePeriod": self._time_period,
            "orderBy": "PNL",
            "limit": str(self._leaderboard_limit),
        }
        entries = parse_leaderboard(await self._get("/v1/leaderboard", params))
        now = self._clock()
        evaluated: list[Whale] = []
        for entry in entries:
            if entry.pnl_usd < self._cfg.min_pnl_usd:
                evaluated.append(_whale(entry, 0, None, PNL_BELOW_MIN))
                continue
            try:
                trades = await self.fetch_trades(entry.wallet, max(self._cfg.min_trades, 1))
            except PolyHttpError as exc:
                log.warning("%s: trades of %s unavailable: %s", SERVICE, entry.wallet, exc)
                previous = self._whales.get(entry.wallet)
                evaluated.append(previous or _whale(entry, 0, None, TRADES_UNAVAILABLE))
                continue
            last = max((t.timestamp for t in trades), default=None)
            reason = qualify(entry.pnl_usd, len(trades), last, now, self._cfg)
            evaluated.append(_whale(entry, len(trades), last, reason))
        self._whales = {w.wallet: w for w in evaluated if w.qualified}
        for wallet in list(self._seen):
            if wallet not in self._whales:
                del self._seen[wallet]  # a whale that comes back starts with a fresh baseline
        return evaluated

    async def poll(self) -> PollResult:
        """New trades of every qualified whale since the last poll (the first poll of a wallet only records)."""
        found: list[WhaleTrade] = []
        failed: list[str] = []
        for whale in self.whales:
            try:
                rows = await self.fetch_trades(whale.wallet, self._trades_page)
            except PolyHttpError as exc:
                log.warning("%s: poll of %s failed: %s", SERVICE, whale.wallet, exc)
                failed.append(whale.wallet)
                continue
            seen = self._seen.get(whale.wallet)
            baseline = seen is None
            if seen is None:
                seen = self._seen[whale.wallet] = _Seen(self._seen_limit)
            # Oldest first, so eviction from the seen set drops the oldest keys.
            for row in sorted(rows, key=lambda t: t.timestamp):
                if seen.add(row.key) and not baseline:
                    found.append(WhaleTrade(whale, row))
        found.sort(key=lambda wt: (wt.trade.timestamp, wt.whale.wallet))
        return PollResult(tuple(found), tuple(failed))


def _whale(entry: LeaderboardEntry, count: int, last: float | None, reason: str) -> Whale:
    return Whale(entry.wallet, entry.name, entry.rank, entry.pnl_usd, entry.volume_usd, count, last, reason)


__all__ = [
    "DATA_API_HOSTS",
    "DATA_API_URL",
    "INACTIVE",
    "PNL_BELOW_MIN",
    "QUALIFIED",
    "TOO_FEW_TRADES",
    "TRADES_UNAVAILABLE",
    "LeaderboardEntry",
    "PollResult",
    "TradeRow",
    "Whale",
    "WhaleTrade",
    "WhaleTracker",
    "parse_leaderboard",
    "parse_trades",
    "qualify",
]
