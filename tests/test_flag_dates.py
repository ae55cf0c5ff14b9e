"""--from/--to/--date: one parser for every command, a bad value is one `error:` line and exit 2."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from src.cli.flag_dates import parse_day, parse_when
from src.config import ConfigError
from src.model.exit_codes import EXIT_USAGE


def test_times_and_days_read_as_utc() -> None:
    assert parse_when(None, "--from") is None and parse_day(None, "--date") is None
    midnight = datetime(2026, 11, 23, tzinfo=UTC).timestamp()
    assert parse_when("2026-11-23", "--from") == midnight
    assert parse_when("2026-11-23T01:00:00Z", "--to") == midnight + 3600
    assert parse_when("2026-11-23T02:00:00+01:00", "--to") == midnight + 3600
    assert parse_day("2026-11-23", "--date") == date(2026, 11, 23)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: parse_when("soon", "--to"), "--to: 'soon' is not a day (YYYY-MM-DD) or an ISO 8601 time"),
    (lambda: parse_day("2026-02-30", "--date"), "--date: '2026-02-30' is not a day (YYYY-MM-DD)"),
    (lambda: parse_day("2026-11-23T01:00", "--date"), "--date: '2026-11-23T01:00' is not a day (YYYY-MM-DD)"),
])  # fmt: skip
def test_a_bad_value_is_one_line_naming_the_flag(call, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        call()
    assert str(caught.value) == message


def test_each_command_words_a_bad_date_alike(tmp_path, capsys) -> None:
    import main
    from tests.fakes.fault_project import make_project

    root = make_project(tmp_path)
    prices = root / "prices.csv"
    prices.write_text("")
    assert main.main(["--report", "--date", "2026-02-30"], root=root) == EXIT_USAGE
    assert main.main(["--backtest", str(prices), "--from", "soon"], root=root) == EXIT_USAGE
    assert main.main(["--download-history", "--from", "2026-02-30", "--to", "2026-03-01"], root=root) == EXIT_USAGE
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert err == [
        "error: --date: '2026-02-30' is not a day (YYYY-MM-DD)",
        "error: --from: 'soon' is not a day (YYYY-MM-DD) or an ISO 8601 time",
        "error: --from: '2026-02-30' is not a day (YYYY-MM-DD)",
    ]
