"""`--reset-killswitch`: shows the lock, needs a terminal and the typed word, records the reset."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from src.config import RiskConfig
from src.db import Database, db_path_for
from src.model.exit_codes import EXIT_ERROR, EXIT_HARD_STOP, EXIT_OK, EXIT_USAGE
from src.model.models import Fill, Mode, OrderIntent, Side, TradeResult
from src.risk import reset as reset_module
from src.risk.kill_switch import EVENT_LOG_NAME, KillSwitch, Reason, startup_lock_check
from src.risk.lockfile import LOCK_NAME, write_lock
from src.risk.reset import RESET_WORD, reset_killswitch
from tests.conftest import ManualClock

D = Decimal
DAY = 86_400.0


class Prompt:
    """A scripted terminal: records prompts, answers from a list (or raises EOFError when empty)."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.prompts: list[str] = []

    def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt)
        if not self.answers:
            raise EOFError
        return self.answers.pop(0)


@pytest.fixture(params=[Mode.PAPER, Mode.LIVE], ids=["paper", "live"])
def mode(request: pytest.FixtureRequest) -> Mode:
    return request.param


@pytest.fixture
def db(project_dir: Path, mode: Mode) -> Iterator[Database]:
    database = Database(db_path_for(project_dir, mode))
    yield database
    database.close()


def _settle(db: Database, n: int, pnl: Decimal, ts: float) -> TradeResult:
    cid = f"t{n}"
    intent = OrderIntent(f"KXBTC15M-T{n}", Side.NO, D("1"), D("0.40"), cid)
    db.insert_order_intent(intent, ts - 7200)
    fill = Fill(cid, intent.ticker, Side.NO, D("1"), D("0.40"), D("0.02"), ts - 7200, fill_id="f")
    trade_id = db.record_execution(cid, ts - 7200, status="executed", venue_order_id=None, fills=[fill])
    assert trade_id is not None
    assert db.settle_trade(trade_id, ts, result="yes", payout=D("0"), pnl=pnl, day="d", bankroll_after=D("0"))
    return TradeResult(intent.ticker, pnl, ts)


def _kill_switch(db: Database, root: Path, mode: Mode, clock: ManualClock, out: list[str],
                 starting: Decimal = D("100")) -> KillSwitch:
    return KillSwitch(RiskConfig(), starting, db, root, mode=mode, clock=clock, cancel_all=lambda: None,
                      out=out.append)


def _order() -> OrderIntent:
    return OrderIntent("KXBTC15M-X", Side.YES, D("1"), D("0.50"), "o")


def _hard_stop(db: Database, root: Path, mode: Mode, clock: ManualClock) -> KillSwitch:
    for i, loss in enumerate(("10", "10", "10.01")):
        _settle(db, i, -D(loss), clock() - (3 - i) * DAY)
    ks = _kill_switch(db, root, mode, clock, [])
    assert ks.hard_stopped and (root / LOCK_NAME).exists()
    return ks


def test_no_lock_nothing_to_do(project_dir: Path, db: Database) -> None:
    out: list[str] = []
    prompt = Prompt(RESET_WORD)
    assert reset_killswitch(project_dir, db, input_fn=prompt, isatty=lambda: True, out=out.append) == EXIT_OK
    assert "nothing to reset" in out[0]
    assert prompt.prompts == [] and db.kill_events() == []


def test_without_a_terminal_it_refuses(project_dir: Path, db: Database, mode: Mode, clock: ManualClock) -> None:
    _hard_stop(db, project_dir, mode, clock)
    before = (project_dir / LOCK_NAME).read_text()
    out: list[str] = []
    prompt = Prompt(RESET_WORD)
    code = reset_killswitch(project_dir, db, input_fn=prompt, isatty=lambda: False, out=out.append, clock=clock)
    assert code == EXIT_USAGE
    assert prompt.prompts == []  # never even asked
    assert (project_dir / LOCK_NAME).read_text() == before
    assert "terminal" in out[-1]
    assert "total_loss" in "\n".join(out)  # the lock was shown
    assert [e.kind for e in db.kill_events()] == ["hard_stop"]


@pytest.mark.parametrize("answer", ["reset", "", "RESET please", "yes", "RESE"])
def test_the_wrong_word_keeps_the_lock(
    project_dir: Path, db: Database, mode: Mode, clock: ManualClock, answer: str
) -> None:
    _hard_stop(db, project_dir, mode, clock)
    out: list[str] = []
    prompt = Prompt(answer)
    code = reset_killswitch(project_dir, db, input_fn=prompt, isatty=lambda: True, out=out.append, clock=clock)
    assert code == EXIT_HARD_STOP
    assert RESET_WORD in prompt.prompts[0]
    assert (project_dir / LOCK_NAME).exists()
    assert "lock stays" in out[-1]
    assert [e.kind for e in db.kill_events()] == ["hard_stop"]
    assert startup_lock_check(project_dir, out=out.append) == EXIT_HARD_STOP


def test_end_of_input_keeps_the_lock(project_dir: Path, db: Database, mode: Mode, clock: ManualClock) -> None:
    _hard_stop(db, project_dir, mode, clock)
    code = reset_killswitch(project_dir, db, input_fn=Prompt(), isatty=lambda: True, out=lambda _: None)
    assert code == EXIT_HARD_STOP and (project_dir / LOCK_NAME).exists()


def test_the_right_word_removes_the_lock_and_records_the_reset(
    project_dir: Path, db: Database, mode: Mode, clock: ManualClock
) -> None:
    _hard_stop(db, project_dir, mode, clock)
    clock.advance(600)
    out: list[str] = []
    code = reset_killswitch(project_dir, db, input_fn=Prompt(" RESET\n"), isatty=lambda: True, out=out.append,
                            clock=clock)
    assert code == EXIT_OK
    assert not (project_dir / LOCK_NAME).exists()
    events = db.kill_events()
    assert [(e.kind, e.reason) for e in events] == [("hard_stop", "total_loss"), ("reset", "total_loss")]
    assert events[-1].ts == clock()
    assert events[-1].detail["lock"]["reason"] == "total_loss"
    log = [json.loads(line)["event"] for line in (project_dir / EVENT_LOG_NAME).read_text().splitlines()]
    assert log == ["HARD_STOP", "RESET"]
    assert startup_lock_check(project_dir, out=out.append) == EXIT_OK


def test_after_a_reset_trading_resumes_and_total_loss_counts_from_the_reset(
    project_dir: Path, db: Database, mode: Mode, clock: ManualClock
) -> None:
    _hard_stop(db, project_dir, mode, clock)
    clock.advance(60)
    assert reset_killswitch(project_dir, db, input_fn=Prompt(RESET_WORD), isatty=lambda: True,
                            out=lambda _: None, clock=clock) == EXIT_OK
    clock.advance(60)
    out: list[str] = []
    ks = _kill_switch(db, project_dir, mode, clock, out)
    assert not ks.hard_stopped
    assert ks.check_order_allowed(_order()).allowed
    assert ks.bankroll == D("69.99")  # the money lost is still lost: only the total-loss baseline moved
    # Up to another $30.00 may be lost; one cent more stops it again.
    for i, loss in enumerate(("10", "10", "10")):
        clock.advance(DAY)  # a day apart, so no daily halt gets in the way
        ks.record_trade_result(_settle(db, 10 + i, -D(loss), clock()))
    assert not ks.hard_stopped
    ks.record_trade_result(_settle(db, 20, D("-0.01"), clock()))
    assert ks.hard_stopped and ks.check_order_allowed(_order()).reason == Reason.TOTAL_LOSS
    assert (project_dir / LOCK_NAME).exists()


def test_the_bankroll_floor_still_applies_after_a_reset(
    project_dir: Path, db: Database, mode: Mode, clock: ManualClock
) -> None:
    _settle(db, 1, D("-5.01"), clock() - 2 * DAY)
    ks = _kill_switch(db, project_dir, mode, clock, [], starting=D("25"))
    assert ks.hard_stopped and ks.check_order_allowed(_order()).reason == Reason.BANKROLL_FLOOR
    assert reset_killswitch(project_dir, db, input_fn=Prompt(RESET_WORD), isatty=lambda: True,
                            out=lambda _: None, clock=clock) == EXIT_OK
    clock.advance(1)
    ks = _kill_switch(db, project_dir, mode, clock, [], starting=D("25"))
    assert ks.hard_stopped and ks.check_order_allowed(_order()).reason == Reason.BANKROLL_FLOOR
    assert (project_dir / LOCK_NAME).exists()


def test_the_reset_is_recorded_in_the_stopped_modes_database(project_dir: Path, clock: ManualClock) -> None:
    live = Database(db_path_for(project_dir, Mode.LIVE))
    _hard_stop(live, project_dir, Mode.LIVE, clock)
    live.close()
    paper = Database(db_path_for(project_dir, Mode.PAPER))
    try:
        assert reset_killswitch(project_dir, paper, input_fn=Prompt(RESET_WORD), isatty=lambda: True,
                                out=lambda _: None, clock=clock) == EXIT_OK
        assert [e.kind for e in paper.kill_events()] == ["reset"]
    finally:
        paper.close()
    live = Database(db_path_for(project_dir, Mode.LIVE))
    try:
        assert [e.kind for e in live.kill_events()] == ["hard_stop", "reset"]
        clock.advance(1)
        assert not _kill_switch(live, project_dir, Mode.LIVE, clock, []).hard_stopped
    finally:
        live.close()


def test_an_unreadable_lock_is_shown_raw_and_can_be_reset(project_dir: Path, db: Database) -> None:
    (project_dir / LOCK_NAME).write_text("{truncated")
    out: list[str] = []
    code = reset_killswitch(project_dir, db, input_fn=Prompt(RESET_WORD), isatty=lambda: True, out=out.append)
    assert code == EXIT_OK
    assert any("{truncated" in line for line in out)
    assert [(e.kind, e.reason) for e in db.kill_events()] == [("reset", "unreadable_lock")]


def test_a_reset_that_cannot_be_recorded_says_so(
    project_dir: Path, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_lock(project_dir, {"reason": "total_loss"})

    def broken(*args: object, **kwargs: object) -> list[str]:
        return ["data/x.db: OperationalError"]

    monkeypatch.setattr(reset_module, "_record_reset", broken)
    out: list[str] = []
    code = reset_killswitch(project_dir, db, input_fn=Prompt(RESET_WORD), isatty=lambda: True, out=out.append)
    assert code == EXIT_ERROR
    assert "could not be recorded" in out[-1]


def test_isatty_defaults_to_stdin(project_dir: Path, db: Database) -> None:
    write_lock(project_dir, {"reason": "total_loss"})
    # Under pytest stdin is not a terminal, so the default must refuse.
    code = reset_killswitch(project_dir, db, input_fn=Prompt(RESET_WORD), out=lambda _: None)
    assert code == EXIT_USAGE and (project_dir / LOCK_NAME).exists()
