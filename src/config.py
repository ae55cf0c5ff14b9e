"""Load and validate configuration: config.yaml, USER_CONFIG.json and .env, into frozen settings."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml
from dotenv import dotenv_values
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from src.risk.limits import LIMITS

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(Exception):
    """A user mistake in a configuration file: reported as one line, never as a traceback."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KalshiWsConfig(_Strict):
    """The Kalshi websocket (real-time books, BRTI, own fills); REST polling stays as the fallback."""

    enabled: bool = True
    # None: the market-data environment in paper mode, kalshi.env in live mode. The connection is
    # signed, so it needs keys of the environment it goes to.
    env: Literal["demo", "prod"] | None = None
    max_book_age_ms: int = Field(500, ge=50, le=10_000)  # decisions refuse an older book
    liveness_ping_ms: int = Field(200, ge=20, le=5_000)  # our pings: a pong proves the book current
    silence_timeout_s: float = Field(15.0, ge=2, le=120)  # no frame and no pong this long: reconnect
    commands_per_s: int = Field(10, ge=1, le=20)
    max_backoff_s: float = Field(30.0, ge=1, le=600)


class KalshiConfig(_Strict):
    env: Literal["demo", "prod"] = "demo"
    market_data_env: Literal["demo", "prod"] = "prod"
    series_ticker: str = Field("KXBTC15M", min_length=1)
    reads_per_s: Decimal = Field(Decimal("10"), gt=0)
    writes_per_s: Decimal = Field(Decimal("5"), gt=0)
    request_timeout_s: float = Field(5.0, gt=0, le=60)
    max_attempts: int = Field(4, ge=1, le=10)
    retry_budget_s: float = Field(15.0, gt=0, le=120)
    poll_interval_s: float = Field(1.0, ge=0.2, le=60)
    ws: KalshiWsConfig = KalshiWsConfig()


class FeedConfig(_Strict):
    source: Literal["binance", "binance_us", "coinbase"] = "binance"
    window_s: float = Field(60.0, ge=5, le=600)
    stale_after_s: Decimal = Field(Decimal("10"), gt=0)
    max_backoff_s: float = Field(30.0, ge=1, le=600)


class BtcLagConfig(_Strict):
    enabled: bool = True
    min_move_pct: float = Field(0.4, gt=0, le=10)
    min_gap: Decimal = Field(Decimal("0.05"), ge=0, le=1)
    min_seconds_left: float = Field(300.0, ge=0, le=900)
    min_edge: Decimal = Field(Decimal("0.08"), ge=0, le=10)
    min_volatility_per_s: float = Field(0.00005, gt=0, le=0.01)
    max_price: Decimal = Field(Decimal("0.95"), gt=0, lt=1)


class StrategyConfig(_Strict):
    btc_lag: BtcLagConfig = BtcLagConfig()


class SizingConfig(_Strict):
    kelly_fraction: Decimal = Field(Decimal("0.25"), gt=0, le=1)


class RiskConfig(_Strict):
    max_single_trade_usd: Decimal = Field(Decimal("5.00"), gt=0)
    max_trade_pct_bankroll: Decimal = Field(Decimal("0.05"), gt=0, le=1)
    daily_loss_pct: Decimal = Field(Decimal("0.15"), gt=0, le=1)
    max_consecutive_losses: int = Field(5, ge=1)
    cooling_hours: Decimal = Field(Decimal("2"), gt=0, le=168)
    max_trades_per_hour: int = Field(15, ge=1)
    max_auth_failures: int = Field(3, ge=1)
    total_loss_pct: Decimal = Field(Decimal("0.30"), gt=0, le=1)
    min_bankroll_usd: Decimal = Field(Decimal("20.00"), ge=0)


class ExecutionConfig(_Strict):
    time_in_force: Literal["fill_or_kill", "immediate_or_cancel"] = "fill_or_kill"
    status_interval_s: float = Field(5.0, gt=0, le=3600)


class SimConfig(_Strict):
    seed: int = 7
    speed: float = Field(60.0, gt=0, le=100000)
    lag_s: float = Field(20.0, ge=0, le=600)
    spread: Decimal = Field(Decimal("0.02"), ge=0, lt=1)
    depth: Decimal = Field(Decimal("40"), gt=0)
    noise: Decimal = Field(Decimal("0.01"), ge=0, lt=1)
    tick_interval_s: float = Field(1.0, gt=0, le=60)
    annual_volatility: float = Field(0.55, gt=0, le=5)
    jump_probability: float = Field(0.002, ge=0, le=1)
    jump_size_pct: float = Field(0.6, ge=0, le=50)
    # The simulated maker's volatility: "measured" (what the strategy measures, so the assumed lag
    # is the book's only flaw) or "fixed" (annual_volatility, the generator's own figure).
    maker_volatility: Literal["fixed", "measured"] = "measured"


class RecordingConfig(_Strict):
    enabled: bool = True  # --paper and --live record what they see (src/recording/)
    sim: bool = False  # --sim records too (into data/sim/recordings/): for tests and demos
    flush_interval_s: float = Field(5.0, gt=0, le=300)  # a kill -9 loses at most this much
    max_disk_mb: int = Field(2000, ge=10)  # oldest days are deleted past this
    result_poll_s: float = Field(30.0, ge=1, le=3600)  # how often a closed market is asked for its result


class DashboardConfig(_Strict):
    refresh_s: float = Field(5.0, ge=1, le=600)


class WhaleConfig(_Strict):
    min_pnl_usd: Decimal = Field(Decimal("10000"), ge=0)
    min_trades: int = Field(50, ge=0)
    max_inactive_days: float = Field(7, gt=0)
    poll_interval_s: float = Field(30, ge=5)
    min_price: Decimal = Field(Decimal("0.05"), ge=0, le=1)
    max_price: Decimal = Field(Decimal("0.95"), ge=0, le=1)
    min_liquidity_usd: Decimal = Field(Decimal("500"), ge=0)
    max_delay_s: float = Field(120, gt=0)
    # Copying has no probability model of its own; sizing's Kelly needs one. A qualified whale is
    # credited with this much probability over its own fill price.
    assumed_edge: Decimal = Field(Decimal("0.03"), ge=0, lt=1)


class PolymarketConfig(_Strict):
    enabled: bool = False
    # us: the CFTC-regulated Polymarket US exchange (US residents; Ed25519 API key, paper and live).
    # international: the global CLOB (geoblocks US persons; paper only here).
    venue: Literal["us", "international"] = "us"
    chain_id: int = 137
    signature_type: int = Field(0, ge=0, le=2)
    whale: WhaleConfig = WhaleConfig()
    reads_per_s: Decimal = Field(Decimal("10"), gt=0, le=100)
    writes_per_s: Decimal = Field(Decimal("5"), gt=0, le=50)
    request_timeout_s: float = Field(5.0, gt=0, le=60)
    max_attempts: int = Field(4, ge=1, le=10)
    retry_budget_s: float = Field(15.0, gt=0, le=120)


class PlatformsConfig(_Strict):
    polymarket: PolymarketConfig = PolymarketConfig()


NotifyLevel = Literal["off", "info", "warning", "critical"]


class NotifyLevels(_Strict):
    """How loud each kind of notification is; "off" never sends it."""

    start_stop: NotifyLevel = "info"
    order_filled: NotifyLevel = "info"
    settlement: NotifyLevel = "info"
    kill_switch: NotifyLevel = "critical"
    auth_halt: NotifyLevel = "critical"
    outage: NotifyLevel = "warning"
    reconciliation: NotifyLevel = "warning"
    remote_command: NotifyLevel = "warning"
    daily_summary: NotifyLevel = "info"
    weekly_summary: NotifyLevel = "info"


class NotifyConfig(_Strict):
    """Push notifications (NOTIFY_URLS in .env) and Telegram remote control (TELEGRAM_CHAT_IDS)."""

    min_level: Literal["info", "warning", "critical"] = "info"
    levels: NotifyLevels = NotifyLevels()
    outage_after_s: float = Field(120.0, ge=10, le=86400)
    daily_summary_utc: str = Field("21:00", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    weekly_summary_day: Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] = (
        "sunday"
    )
    queue_size: int = Field(200, ge=10, le=10000)
    send_timeout_s: float = Field(10.0, gt=0, le=60)
    max_attempts: int = Field(4, ge=1, le=10)
    retry_budget_s: float = Field(120.0, gt=0, le=3600)
    poll_timeout_s: int = Field(25, ge=1, le=50)


class LoggingConfig(_Strict):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


# Which way each USER_CONFIG.json risk override tightens, as the code-enforced limits define it.
_RISK_LOWER_IS_TIGHTER = {
    limit.key.removeprefix("risk."): limit.lower_is_tighter for limit in LIMITS if limit.key.startswith("risk.")
}


class RiskOverrides(_Strict):
    """USER_CONFIG.json may tighten risk limits further; None means 'as config.yaml says'."""

    max_single_trade_usd: Decimal | None = Field(None, gt=0)
    max_trade_pct_bankroll: Decimal | None = Field(None, gt=0, le=1)
    daily_loss_pct: Decimal | None = Field(None, gt=0, le=1)
    max_consecutive_losses: int | None = Field(None, ge=1)
    cooling_hours: Decimal | None = Field(None, gt=0, le=168)
    max_trades_per_hour: int | None = Field(None, ge=1)
    max_auth_failures: int | None = Field(None, ge=1)
    total_loss_pct: Decimal | None = Field(None, gt=0, le=1)
    min_bankroll_usd: Decimal | None = Field(None, ge=0)


class UserConfig(_Strict):
    owner: str = "owner"
    starting_bankroll_usd: Decimal = Field(gt=0, le=Decimal("1000000"))
    risk: RiskOverrides = RiskOverrides()


class AppConfig(_Strict):
    kalshi: KalshiConfig = KalshiConfig()
    feed: FeedConfig = FeedConfig()
    strategy: StrategyConfig = StrategyConfig()
    sizing: SizingConfig = SizingConfig()
    risk: RiskConfig = RiskConfig()
    execution: ExecutionConfig = ExecutionConfig()
    sim: SimConfig = SimConfig()
    recording: RecordingConfig = RecordingConfig()
    dashboard: DashboardConfig = DashboardConfig()
    platforms: PlatformsConfig = PlatformsConfig()
    logging: LoggingConfig = LoggingConfig()
    notify: NotifyConfig = NotifyConfig()

    @model_validator(mode="after")
    def _never_looser_than_code(self) -> AppConfig:
        for limit in LIMITS:
            section, key = limit.key.split(".")
            value = getattr(getattr(self, section), key)
            if not limit.allows(value):
                word = "at most" if limit.lower_is_tighter else "at least"
                raise ValueError(
                    f"{limit.key}={value} is looser than the code allows ({word} {limit.hard}); "
                    "config can only tighten limits"
                )
        return self


@dataclass(frozen=True, slots=True)
class Secrets:
    """Credentials from .env. repr never shows values (ground rule 4)."""

    values: dict[str, str]

    def get(self, key: str) -> str | None:
        value = self.values.get(key)
        return value if value else None

    def __repr__(self) -> str:
        return f"Secrets(keys={sorted(k for k, v in self.values.items() if v)})"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the daemon was configured with, merged and validated."""

    app: AppConfig
    user: UserConfig
    secrets: Secrets
    root: Path

    @property
    def live_trading_enabled(self) -> bool:
        return (self.secrets.get("LIVE_TRADING") or "false").strip().lower() == "true"


def _describe(error: ValidationError, source: str) -> str:
    first = error.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    return f"{source}: {loc}: {msg}" if loc else f"{source}: {msg}"


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections")
    return data


def load_app_config(path: Path) -> AppConfig:
    data = _read_yaml(path)
    try:
        return AppConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, str(path))) from None


def load_user_config(path: Path, app: AppConfig) -> tuple[UserConfig, AppConfig]:
    """Read USER_CONFIG.json and fold its risk answers into the app config (tightening only)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON (line {exc.lineno})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a JSON object")
    try:
        user = UserConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, str(path))) from None
    overrides = user.risk.model_dump(exclude_none=True)
    merged_risk = app.risk.model_dump()
    for key, value in overrides.items():
        current = merged_risk[key]
        tighter = value < current if _RISK_LOWER_IS_TIGHTER[key] else value > current
        if tighter:
            merged_risk[key] = value
    try:
        app = app.model_copy(update={"risk": RiskConfig.model_validate(merged_risk)})
    except ValidationError as exc:
        raise ConfigError(_describe(exc, str(path))) from None
    return user, app


def env_file(root: Path) -> Path:
    """The .env file of a project root (read only: nothing in this code base writes it)."""
    return root / ".env"


def load_secrets(env_path: Path) -> Secrets:
    """Read .env (never written by code); real environment variables win over the file."""
    values: dict[str, str] = {}
    if env_path.is_file():
        values.update({k: v for k, v in dotenv_values(env_path).items() if v is not None})
    prefixes = ("KALSHI_", "POLY_", "POLYMARKET_", "LIVE_TRADING")
    for key in list(values) + [k for k in os.environ if k.startswith(prefixes)]:
        if key in os.environ:
            values[key] = os.environ[key]
    return Secrets(values)


def load_settings(
    config_path: Path | None = None,
    user_config_path: Path | None = None,
    env_path: Path | None = None,
    root: Path = PROJECT_ROOT,
) -> Settings:
    app = load_app_config(config_path or root / "config.yaml")
    user, app = load_user_config(user_config_path or root / "USER_CONFIG.json", app)
    secrets = load_secrets(env_path or env_file(root))
    return Settings(app=app, user=user, secrets=secrets, root=root)


REQUIRED_KALSHI_ENV = ("KALSHI_API_KEY_ID", "KALSHI_PRIVATE_KEY_PATH")


def missing_kalshi_secrets(secrets: Secrets) -> list[str]:
    return [key for key in REQUIRED_KALSHI_ENV if not secrets.get(key)]
