"""`--verify` checks for Kalshi: credentials, exchange status, balance, market, book, fee terms, order group."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from src.auth.kalshi_auth import KEY_ID_ENV, KEY_PATH_ENV, KalshiAuth, KalshiAuthError
from src.model.fees import fee_terms_mismatch
from src.model.models import CheckResult, Clock, Market, Side
from src.model.order_group_limit import order_group_contracts_limit
from src.net.allowlist import HostNotAllowedError
from src.platforms.kalshi import (
    ENV_HOSTS,
    KalshiAPIError,
    KalshiAuthFailure,
    KalshiClient,
    KalshiTransportError,
    load_auth,
)

if TYPE_CHECKING:
    from src.config import Settings

ClientFactory = Callable[["Settings", KalshiAuth | None], KalshiClient]
AuthLoader = Callable[["Settings"], KalshiAuth | None]

_SKEW_WARN_S = 2.0


def default_client_factory(settings: Settings, auth: KalshiAuth | None) -> KalshiClient:
    return KalshiClient.from_settings(settings, with_auth=False, auth=auth)


def _hint_for(exc: BaseException, env: str) -> str:
    """What a person should do about a failed check."""
    if isinstance(exc, KalshiAuthFailure):
        if exc.code == "header_timestamp_expired":
            return "your computer's clock is off: turn on automatic time sync (NTP) and retry"
        other = "prod" if env == "demo" else "demo"
        return (
            f"Kalshi rejected the key: check {KEY_ID_ENV} matches the .pem file, and that the key was "
            f"created on {env} ({ENV_HOSTS[env]}); {other} keys do not work here (kalshi.env in config.yaml)"
        )
    if isinstance(exc, KalshiTransportError):
        return "cannot reach Kalshi: check the internet connection, DNS and any firewall or proxy"
    if isinstance(exc, HostNotAllowedError):
        return "the request was blocked by the URL allowlist: this is a bug, please report it"
    if isinstance(exc, KalshiAPIError):
        if exc.status == 429:
            return "rate limited by Kalshi: wait a minute and retry"
        if exc.status >= 500:
            return "Kalshi is having problems: retry later (status page: status.kalshi.com)"
        return "unexpected answer from Kalshi: see the detail above"
    return "unexpected error: see the detail above"


def _failed(name: str, exc: BaseException, env: str) -> CheckResult:
    detail = str(exc) if isinstance(exc, KalshiAPIError | HostNotAllowedError) else type(exc).__name__
    return CheckResult(name, False, detail, _hint_for(exc, env))


def _skew_note(client: KalshiClient) -> str:
    skew = client.server_clock_skew_s
    if skew is None or abs(skew) < _SKEW_WARN_S:
        return ""
    return f"; your clock differs from Kalshi's by about {skew:+.0f}s"


async def _check(
    name: str, env: str, action: Callable[[], Awaitable[CheckResult]]
) -> CheckResult:
    try:
        return await action()
    except (KalshiAPIError, HostNotAllowedError, KalshiAuthError) as exc:
        return _failed(name, exc, env)


async def _fee_check(client: KalshiClient, series: str) -> CheckResult:
    """The series' fee terms against fees.py: live refuses new orders while they differ."""
    fees = await client.get_series_fees(series)
    changes = await client.get_fee_changes(series)
    problem = fee_terms_mismatch(fees.fee_type, fees.fee_multiplier)
    detail = f"{series}: {fees.fee_type} x{format(fees.fee_multiplier.normalize(), 'f')}"
    if problem:
        return CheckResult("Kalshi fee terms", False, f"{detail}: {problem}",
                           "live trading refuses new orders until src/model/fees.py is updated for these terms")
    announced = [c for c in changes if fee_terms_mismatch(c.fee_type, c.fee_multiplier)]
    if announced:
        first = min(announced, key=lambda c: c.scheduled_ts)
        when = datetime.fromtimestamp(first.scheduled_ts, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
        return CheckResult("Kalshi fee terms", False,
                           f"{detail} matches fees.py now, but a change to {first.fee_type} x{first.fee_multiplier} "
                           f"is announced for {when}",
                           "live trading will refuse new orders from then until src/model/fees.py is updated")
    return CheckResult("Kalshi fee terms", True, f"{detail} = the taker fee fees.py computes (live checks it again "
                                                 "every 10 min)")


async def _group_check(client: KalshiClient, env: str, limit: int) -> CheckResult:
    """The order-group endpoint answers with these keys; what live mode will create at start-up."""
    groups = await client.get_order_groups()
    return CheckResult("Kalshi order group", True,
                       f"{ENV_HOSTS[env]}: live mode creates one group at start-up, limit {limit} contracts per "
                       f"15 s (a trigger is a HARD STOP); {len(groups)} group(s) on the account now")


async def verify_kalshi(
    settings: Settings,
    *,
    client_factory: ClientFactory = default_client_factory,
    auth_loader: AuthLoader = load_auth,
    now: Clock = time.time,
) -> list[CheckResult]:
    """Run the Kalshi checks in order; never raises for a failed check, each failure carries a hint."""
    cfg = settings.app.kalshi
    env, md_env = cfg.env, cfg.market_data_env
    results: list[CheckResult] = []

    auth: KalshiAuth | None = None
    try:
        auth = auth_loader(settings)
    except KalshiAuthError as exc:
        results.append(CheckResult("Kalshi credentials", False, str(exc), "fix .env (see .env.example)"))
    else:
        if auth is None:
            results.append(
                CheckResult(
                    "Kalshi credentials",
                    False,
                    f"{KEY_ID_ENV} and {KEY_PATH_ENV} are not set",
                    "--paper and --live need them: copy .env.example to .env and fill it in (--sim needs none)",
                )
            )
        else:
            results.append(CheckResult("Kalshi credentials", True, f"key loaded for {env}"))

    client = client_factory(settings, auth)
    try:
        async def status() -> CheckResult:
            st = await client.get_exchange_status()
            detail = f"{ENV_HOSTS[md_env]}: exchange_active={st.exchange_active} trading_active={st.trading_active}"
            if not st.exchange_active or not st.trading_active:
                return CheckResult("Kalshi exchange status", False, detail, "Kalshi is paused: retry later")
            return CheckResult("Kalshi exchange status", True, detail + _skew_note(client))

        results.append(await _check("Kalshi exchange status", md_env, status))

        if auth is None:
            results.append(
                CheckResult("Kalshi balance", False, "skipped: no credentials", "needed only for --live")
            )
        else:
            async def balance() -> CheckResult:
                dollars = await client.get_balance()
                return CheckResult("Kalshi balance", True, f"{ENV_HOSTS[env]}: ${dollars}")

            # The skew matters most when the signed call failed: it may be why.
            balance_result = await _check("Kalshi balance", env, balance)
            results.append(replace(balance_result, detail=balance_result.detail + _skew_note(client)))

        market: Market | None = None

        async def current() -> CheckResult:
            nonlocal market
            t = now()
            market = await client.get_current_market(t)
            if market is None:
                return CheckResult(
                    f"{cfg.series_ticker} current market",
                    False,
                    f"no open {cfg.series_ticker} market on {ENV_HOSTS[md_env]}",
                    "windows open every 15 minutes and the listing can lag: retry in a minute; "
                    "check kalshi.market_data_env (demo may not list this series)",
                )
            strike = "not published yet" if market.floor_strike is None else f"{market.floor_strike}"
            return CheckResult(
                f"{cfg.series_ticker} current market",
                True,
                f"{market.ticker}: strike {strike}, closes in {market.seconds_to_close(t):.0f}s",
            )

        results.append(await _check(f"{cfg.series_ticker} current market", md_env, current))

        if market is None:
            results.append(
                CheckResult(f"{cfg.series_ticker} order book", False, "skipped: no current market", "see above")
            )
        else:
            ticker = market.ticker

            async def book() -> CheckResult:
                ob = await client.get_orderbook(ticker)
                yes_ask, no_ask = ob.best_ask(Side.YES), ob.best_ask(Side.NO)
                detail = (
                    f"{ticker}: {len(ob.yes_bids)} YES / {len(ob.no_bids)} NO bid levels, "
                    f"YES ask {yes_ask if yes_ask is not None else '-'}, NO ask {no_ask if no_ask is not None else '-'}"
                )
                if not ob.yes_bids and not ob.no_bids:
                    detail += " (empty right now: normal just after a window opens)"
                return CheckResult(f"{cfg.series_ticker} order book", True, detail)

            results.append(await _check(f"{cfg.series_ticker} order book", md_env, book))

        results.append(await _check("Kalshi fee terms", md_env, lambda: _fee_check(client, cfg.series_ticker)))
        if auth is None:
            results.append(
                CheckResult("Kalshi order group", False, "skipped: no credentials", "needed only for --live")
            )
        else:
            limit = order_group_contracts_limit(settings.app.risk.max_single_trade_usd)
            results.append(await _check("Kalshi order group", env, lambda: _group_check(client, env, limit)))
    finally:
        await client.close()
    return results


__all__ = ["ClientFactory", "default_client_factory", "verify_kalshi"]
