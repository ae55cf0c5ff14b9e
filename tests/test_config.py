"""Config validation: good files load, bad ones fail with one clear line, limits only tighten."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from src.config import (
    ConfigError,
    Secrets,
    load_app_config,
    load_secrets,
    load_settings,
    missing_kalshi_secrets,
)
from src.risk.limits import LIMITS

REPO = Path(__file__).resolve().parent.parent


def _write_config(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load((REPO / "config.yaml").read_text())
    mutate(data)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_repo_config_loads_with_design_values() -> None:
    settings = load_settings(env_path=REPO / "does-not-exist.env")
    risk = settings.app.risk
    assert risk.max_single_trade_usd == Decimal("5.00")
    assert risk.max_consecutive_losses == 5
    assert settings.app.kalshi.env == "demo"
    assert settings.app.platforms.polymarket.enabled is False
    assert settings.user.starting_bankroll_usd == Decimal("100.00")
    assert isinstance(risk.daily_loss_pct, Decimal)


def test_unknown_key_is_refused_with_its_name(tmp_path: Path) -> None:
    path = _write_config(tmp_path, lambda d: d["risk"].update({"max_singel_trade_usd": "4"}))
    with pytest.raises(ConfigError) as err:
        load_app_config(path)
    message = str(err.value)
    assert "risk.max_singel_trade_usd" in message and "unknown key" in message
    assert "\n" not in message


def test_wrong_type_is_refused(tmp_path: Path) -> None:
    path = _write_config(tmp_path, lambda d: d["risk"].update({"max_trades_per_hour": "lots"}))
    with pytest.raises(ConfigError, match=r"risk\.max_trades_per_hour"):
        load_app_config(path)


def test_out_of_range_choice_is_refused(tmp_path: Path) -> None:
    path = _write_config(tmp_path, lambda d: d["feed"].update({"source": "kraken"}))
    with pytest.raises(ConfigError, match=r"feed\.source"):
        load_app_config(path)


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("risk:\n  max_single_trade_usd: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_app_config(path)


def _loosen(value):
    if isinstance(value, int):
        return value + 1
    return value + Decimal("0.01")


def _tighten(value):
    if isinstance(value, int):
        return value - 1
    return value - Decimal("0.01")


@pytest.mark.parametrize("limit", LIMITS, ids=lambda lim: lim.key)
def test_every_limit_can_be_tightened_but_not_loosened(tmp_path: Path, limit) -> None:
    section, key = limit.key.split(".")
    looser = _loosen(limit.hard) if limit.lower_is_tighter else _tighten(limit.hard)
    tighter = _tighten(limit.hard) if limit.lower_is_tighter else _loosen(limit.hard)

    bad = _write_config(tmp_path, lambda d: d[section].update({key: str(looser)}))
    with pytest.raises(ConfigError) as err:
        load_app_config(bad)
    assert limit.key in str(err.value) and "looser" in str(err.value)

    good = _write_config(tmp_path, lambda d: d[section].update({key: str(tighter)}))
    cfg = load_app_config(good)
    assert Decimal(str(getattr(getattr(cfg, section), key))) == Decimal(str(tighter))

    exact = _write_config(tmp_path, lambda d: d[section].update({key: str(limit.hard)}))
    load_app_config(exact)


def test_user_config_can_only_tighten(tmp_path: Path) -> None:
    user = tmp_path / "USER_CONFIG.json"
    user.write_text(json.dumps({"owner": "M", "starting_bankroll_usd": "50", "risk": {
        "max_single_trade_usd": "3.00", "daily_loss_pct": "0.50", "min_bankroll_usd": "30"}}))
    settings = load_settings(user_config_path=user, env_path=tmp_path / "none.env")
    assert settings.app.risk.max_single_trade_usd == Decimal("3.00")
    assert settings.app.risk.daily_loss_pct == Decimal("0.15")  # looser answer ignored
    assert settings.app.risk.min_bankroll_usd == Decimal("30")


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("{not json", "not valid JSON"),
        ('{"owner": "M"}', "starting_bankroll_usd"),
        ('{"starting_bankroll_usd": "-5"}', "starting_bankroll_usd"),
        ('{"starting_bankroll_usd": "100", "extra": 1}', "unknown key"),
        ("[1, 2]", "JSON object"),
    ],
)
def test_bad_user_config_is_one_clear_line(tmp_path: Path, content: str, fragment: str) -> None:
    user = tmp_path / "USER_CONFIG.json"
    user.write_text(content)
    with pytest.raises(ConfigError) as err:
        load_settings(user_config_path=user, env_path=tmp_path / "none.env")
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_app_config(tmp_path / "nope.yaml")


def test_secrets_never_show_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("KALSHI_API_KEY_ID", "KALSHI_PRIVATE_KEY_PATH", "LIVE_TRADING"):
        monkeypatch.delenv(key, raising=False)
    env = tmp_path / ".env"
    env.write_text("KALSHI_API_KEY_ID=abcd-super-secret-id\nKALSHI_PRIVATE_KEY_PATH=/x/key.pem\n")
    before = env.read_bytes()
    secrets = load_secrets(env)
    assert secrets.get("KALSHI_API_KEY_ID") == "abcd-super-secret-id"
    assert "super-secret" not in repr(secrets) and "super-secret" not in str(secrets)
    assert missing_kalshi_secrets(secrets) == []
    assert env.read_bytes() == before  # .env is only ever read


def test_missing_secrets_are_named() -> None:
    assert missing_kalshi_secrets(Secrets({"KALSHI_API_KEY_ID": "x"})) == ["KALSHI_PRIVATE_KEY_PATH"]
    assert missing_kalshi_secrets(Secrets({})) == ["KALSHI_API_KEY_ID", "KALSHI_PRIVATE_KEY_PATH"]


def test_live_trading_flag_parsing() -> None:
    from src.config import AppConfig, Settings, UserConfig

    def settings(value: str | None) -> Settings:
        values = {} if value is None else {"LIVE_TRADING": value}
        return Settings(AppConfig(), UserConfig(starting_bankroll_usd=Decimal(100)), Secrets(values), REPO)

    assert settings("true").live_trading_enabled
    assert settings(" TRUE ").live_trading_enabled
    assert not settings("false").live_trading_enabled
    assert not settings("yes").live_trading_enabled
    assert not settings(None).live_trading_enabled
