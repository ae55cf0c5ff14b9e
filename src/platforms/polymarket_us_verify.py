"""`--verify` for Polymarket: the whale source; on the US venue a public book, the key, a signed read, clock skew.

Lines (each a CheckResult with a hint when it fails):
  Polymarket                 disabled (nothing else checked), or which venue is configured
  Polymarket whale source    the international Data API leaderboard answers (both venues copy from it)
  Polymarket US book         an open market's book from gateway.polymarket.us (public, no key)
  Polymarket US key          POLYMARKET_KEY_ID / POLYMARKET_SECRET_KEY load (needed for live only)
  Polymarket US balance      a signed read of /v1/account/balances on api.polymarket.us
  Polymarket US clock        our clock against the venue's Date header: signatures more than 30 s
                             off are refused, so more than 10 s is flagged
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from src.auth.poly_us_auth import KEY_ID_ENV, SECRET_ENV, PolyUsAuthError, PolyUsKey
from src.data.whale_tracker import WhaleTracker
from src.model.models import CheckResult, Side
from src.net.allowlist import HostNotAllowedError
from src.net.http_session import ConnectorFactory
from src.net.poly_http import PolyHttpError
from src.platforms.polymarket_us import PolymarketUSClient

if TYPE_CHECKING:
    from src.config import Settings

SKEW_WARN_S = 10.0


def _hint(exc: BaseException, skew_s: float | None) -> str:
    if isinstance(exc, HostNotAllowedError):
        return "the request was blocked by the URL allowlist: this is a bug, please report it"
    if isinstance(exc, PolyHttpError):
        if exc.is_auth_failure:
            if skew_s is not None and abs(skew_s) > SKEW_WARN_S:
                return f"your clock is {skew_s:+.0f}s off Polymarket's: turn on automatic time sync (NTP) and retry"
            return (f"Polymarket US refused the key: check {KEY_ID_ENV} and {SECRET_ENV} are the pair made at "
                    "polymarket.us/developer, and that the key was not revoked")  # fmt: skip
        if exc.status == 0:
            return "cannot reach Polymarket: check the internet connection, DNS and any firewall or proxy"
        if exc.status == 429:
            return "rate limited: wait a minute and retry"
        if exc.status >= 500:
            return "Polymarket is having problems: retry later"
    return "unexpected answer: see the detail above"


def _skew(client: PolymarketUSClient) -> float | None:
    seen = client.last_server_date
    return None if seen is None else seen[0] - seen[1]


async def verify_polymarket(
    settings: Settings,
    *,
    us_connector_factory: ConnectorFactory | None = None,
    data_connector_factory: ConnectorFactory | None = None,
    clock: Callable[[], float] = time.time,
) -> list[CheckResult]:
    """The Polymarket lines of --verify; never raises for a failed check."""
    cfg = settings.app.platforms.polymarket
    if not cfg.enabled:
        return [CheckResult("Polymarket", True, "disabled (platforms.polymarket.enabled: false): not checked")]
    results = [CheckResult("Polymarket", True, f"enabled, venue {cfg.venue}"
                           + (" (paper only)" if cfg.venue != "us" else ""))]  # fmt: skip

    tracker = WhaleTracker(cfg.whale, clock, connector_factory=data_connector_factory, timeout_s=cfg.request_timeout_s,
                           leaderboard_limit=5)  # fmt: skip
    try:
        board = await tracker.leaderboard()
        results.append(CheckResult("Polymarket whale source", True,
                                   f"data-api.polymarket.com leaderboard: {len(board)} rows"))  # fmt: skip
    except (PolyHttpError, HostNotAllowedError) as exc:
        results.append(CheckResult("Polymarket whale source", False, str(exc), _hint(exc, None)))
    finally:
        await tracker.close()
    if cfg.venue != "us":
        return results

    key: PolyUsKey | None = None
    key_id, secret = settings.secrets.get(KEY_ID_ENV), settings.secrets.get(SECRET_ENV)
    if not key_id and not secret:
        results.append(CheckResult("Polymarket US key", False, f"{KEY_ID_ENV} and {SECRET_ENV} are not set",
                                   "--paper needs none; for --live make an API key at polymarket.us/developer "
                                   "and put both values in .env"))  # fmt: skip
    else:
        try:
            key = PolyUsKey.load(key_id, secret)
            results.append(CheckResult("Polymarket US key", True, "key loaded"))
        except PolyUsAuthError as exc:
            results.append(CheckResult("Polymarket US key", False, str(exc), "fix .env (see .env.example)"))

    client = PolymarketUSClient(key, clock=clock, connector_factory=us_connector_factory,
                                timeout_s=cfg.request_timeout_s)  # fmt: skip
    try:
        await _check_book(client, results)
        if key is None:
            results.append(CheckResult("Polymarket US balance", False, "skipped: no usable key",
                                       "needed only for --live"))  # fmt: skip
        else:
            try:
                balance = await client.get_balance()
                results.append(CheckResult("Polymarket US balance", True,
                                           f"api.polymarket.us: ${balance.current_balance} "
                                           f"(buying power ${balance.buying_power})"))  # fmt: skip
            except (PolyHttpError, HostNotAllowedError) as exc:
                results.append(CheckResult("Polymarket US balance", False, str(exc), _hint(exc, _skew(client))))
        skew = _skew(client)
        if skew is None:
            results.append(CheckResult("Polymarket US clock", False, "no answer carried the venue's time",
                                       "see the lines above"))  # fmt: skip
        elif abs(skew) > SKEW_WARN_S:
            results.append(CheckResult("Polymarket US clock", False, f"your clock is {skew:+.0f}s off the venue's",
                                       "signatures more than 30 s off are refused: turn on automatic time sync "
                                       "(NTP)"))  # fmt: skip
        else:
            results.append(CheckResult("Polymarket US clock", True, f"within {SKEW_WARN_S:.0f}s of the venue's "
                                       f"({skew:+.0f}s)"))  # fmt: skip
    finally:
        await client.close()
    return results


async def _check_book(client: PolymarketUSClient, results: list[CheckResult]) -> None:
    name = "Polymarket US book"
    try:
        slugs = await client.open_market_slugs()
        if not slugs:
            results.append(CheckResult(name, False, "gateway.polymarket.us lists no open market",
                                       "retry later; the venue may be between events"))  # fmt: skip
            return
        book = await client.get_orderbook(slugs[0])
        yes, no = book.best_ask(Side.YES), book.best_ask(Side.NO)
        results.append(CheckResult(name, True, f"{slugs[0]}: {len(book.yes_bids)} bid / {len(book.no_bids)} offer "
                                   f"levels, YES ask {yes if yes is not None else '-'}, "
                                   f"NO ask {no if no is not None else '-'}"))  # fmt: skip
    except (PolyHttpError, HostNotAllowedError) as exc:
        results.append(CheckResult(name, False, str(exc), _hint(exc, None)))


PolymarketChecks = Callable[["Settings"], Awaitable[list[CheckResult]]]

__all__ = ["SKEW_WARN_S", "PolymarketChecks", "verify_polymarket"]
