"""Telegram remote control against a local fake Bot API: only configured chats are obeyed, /halt is the kill
switch's own HARD STOP, /resume never lifts a kill switch state, and nothing remote makes the bot riskier."""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from src.app.remote_controls import DaemonControls, HaltTarget
from src.db import Database
from src.model.exit_codes import EXIT_HARD_STOP, EXIT_OK
from src.model.models import Mode, OrderIntent, Side
from src.notify import telegram_api
from src.notify.commands import CommandHandler, command_word
from src.notify.events import Kind, Notification
from src.notify.notifier import Notifier
from src.notify.pause import PAUSED_REASON, PauseGate
from src.notify.telegram_api import TelegramApi, TelegramError
from src.notify.telegram_poller import TelegramPoller
from src.risk.kill_switch import EVENT_LOG_NAME, KillSwitch, TradingState, startup_lock_check
from src.risk.lockfile import read_lock
from tests.conftest import ManualClock
from tests.fakes.telegram_server import FakeTelegram
from tests.test_kill_switch import Rig

D = Decimal
TOKEN = "7000000001:AAFakeTokenForTests0123456789abcdefXY"
OWNER = 424242
STRANGER = 999


class Harness:
    """A real kill switch and pause gate behind DaemonControls, a CommandHandler and a poller on the fake API."""

    def __init__(self, rig: Rig, tg: FakeTelegram) -> None:
        self.rig = rig
        # What the owner's phone gets from this kill switch (a lock-present stop is named by the lock).
        self.notes: list[Notification] = []
        self.notifier = Notifier({k.value: "info" for k in Kind}, "info", self.notes.append, rig.clock,
                                 lock_root=rig.root)
        self.ks = KillSwitch(rig.risk, rig.starting, rig.db, rig.root, mode=rig.mode, clock=rig.clock,
                             cancel_all=rig._cancel, out=rig.out.append, on_event=self.notifier.kill_switch)
        self.also_halt: list[HaltTarget] = []
        self.gate = PauseGate(self.ks)
        self.stops: list[int] = []
        self.actions: list[tuple[str, int]] = []
        self.controls = DaemonControls(
            status_line=lambda: "[PAPER] BTC 65,000.00 | no market | kill switch active",
            pause_gate=self.gate, kill_switch=self.ks, kill_switch_root=rig.root, db=rig.db, clock=rig.clock,
            request_stop=self.stops.append, also_halt=self.also_halt,
        )
        self.handler = CommandHandler(frozenset({OWNER}), self.controls,
                                      on_action=lambda word, chat, reply: self.actions.append((word, chat)))
        self.api = TelegramApi(TOKEN, connector_factory=tg.connector)
        self.sleeps: list[float] = []

        async def sleep(s: float) -> None:
            self.sleeps.append(s)

        self.poller = TelegramPoller(self.api, self.handler, poll_timeout_s=1, clock=rig.clock.__call__, sleep=sleep)
        self.tg = tg

    async def command(self, text: str, chat: int = OWNER) -> str | None:
        """Send one message through the fake API and return the bot's reply to that chat (None: no reply)."""
        before = len(self.tg.sent)
        self.tg.say(chat, text, date=self.rig.clock())
        await self.poller.poll_once()
        replies = [t for c, t in self.tg.sent[before:] if c == chat]
        return replies[-1] if replies else None

    def allowed(self) -> Any:
        return self.gate.check_order_allowed(OrderIntent("KXBTC15M-T", Side.YES, D("1"), D("0.50"), "c-1"))


@pytest.fixture
def rig(project_dir: Path, clock: ManualClock) -> Any:
    r = Rig(project_dir, Mode.LIVE, clock)
    yield r
    r.db.close()


@pytest.fixture
async def h(rig: Rig) -> Any:
    async with FakeTelegram(token=TOKEN) as tg:
        harness = Harness(rig, tg)
        yield harness
        await harness.api.close()


async def test_status_and_pnl_answer_the_owner(h: Harness) -> None:
    h.rig.settle(h.ks, D("1.25"))
    status = await h.command("/status")
    assert status is not None and "[PAPER] BTC 65,000.00" in status
    pnl = await h.command("/pnl@my_bot")
    assert pnl is not None and "P&L today $1.25, all time $1.25" in pnl and "Kill switch active" in pnl
    assert h.tg.bad_token_calls == 0 and set(h.tg.calls) == {"getUpdates", "sendMessage"}
    assert h.actions == []  # reading is not an action


async def test_an_unknown_chat_is_ignored_and_logged(h: Harness, caplog: Any) -> None:
    caplog.set_level(logging.WARNING)
    for text in ("/halt", "/stop", "/pause", "/resume", "/status"):
        assert await h.command(text, chat=STRANGER) is None
    assert h.tg.sent == [] and h.stops == [] and h.actions == []
    assert not h.gate.paused and not h.ks.hard_stopped and read_lock(h.rig.root) is None
    assert h.handler.refused == 5
    assert "ignored a message from chat 999" in caplog.text


async def test_pause_stops_new_orders_and_resume_lifts_only_the_pause(h: Harness) -> None:
    assert h.allowed().allowed
    reply = await h.command("/pause")
    assert reply is not None and reply.startswith("Paused") and "settle normally" in reply
    verdict = h.allowed()
    assert not verdict.allowed and verdict.reason == PAUSED_REASON
    assert h.ks.check_order_allowed(OrderIntent("KXBTC15M-T", Side.YES, D("1"), D("0.50"), "c-1")).allowed
    status = await h.command("/status")
    assert status is not None and status.startswith("PAUSED")
    reply = await h.command("/resume")
    assert reply is not None and "Pause lifted" in reply and h.allowed().allowed
    assert h.actions == [("/pause", OWNER), ("/resume", OWNER)]


async def test_resume_cannot_lift_a_cooling_period(h: Harness) -> None:
    for _ in range(5):
        h.rig.settle(h.ks, D("-1.00"))
    assert h.ks.state is TradingState.COOLING
    await h.command("/pause")
    reply = await h.command("/resume")
    assert reply is not None and "still refuses orders" in reply and "cooling" in reply
    assert "/resume cannot lift that" in reply
    verdict = h.allowed()
    assert not verdict.allowed and verdict.reason == "cooling"
    reply = await h.command("/resume")  # not paused now: still nothing lifted
    assert reply is not None and reply.startswith("Not paused") and not h.allowed().allowed
    assert h.ks.state is TradingState.COOLING


async def test_halt_is_the_kill_switch_hard_stop_and_resume_cannot_lift_it(h: Harness) -> None:
    reply = await h.command("/halt")
    assert reply is not None and reply.startswith("HARD STOP") and "--reset-killswitch" in reply
    lock = read_lock(h.rig.root)
    assert lock is not None and lock.data is not None and lock.data["reason"] == "remote_halt"
    assert f"chat {OWNER}" in lock.data["message"]
    assert lock.data["mode"] == "live" and lock.data["figures"]["mode"] == "live"  # reset goes to live.db
    assert h.rig.cancels == 1  # cancel all, as the kill switch does on every HARD STOP
    assert h.ks.hard_stopped and h.ks.should_exit and h.ks.exit_code == EXIT_HARD_STOP
    assert h.stops == [EXIT_HARD_STOP]
    events = [json.loads(line) for line in (h.rig.root / EVENT_LOG_NAME).read_text().splitlines()]
    assert events[-1]["event"] == "HARD_STOP"
    assert "hard_stop" in h.rig.kinds()
    assert not h.allowed().allowed
    reply = await h.command("/resume")
    assert reply is not None and "hard_stopped" in reply and not h.allowed().allowed
    again = await h.command("/halt")
    assert again == "Already in HARD STOP on Kalshi." and h.rig.cancels == 1
    # reset only at the terminal: a restart refuses while the lock is there
    assert startup_lock_check(h.rig.root, out=lambda _: None) == EXIT_HARD_STOP
    # The phone hears it was the owner's remote halt, not an unexplained "lock_present".
    stops = [n for n in h.notes if n.kind is Kind.KILL_SWITCH and n.title.startswith("HARD STOP")]
    assert [n.title for n in stops] == ["HARD STOP (remote_halt) [Kalshi]"]
    body = stops[0].body
    assert f"HARD STOP requested remotely (Telegram chat {OWNER})" in body and "lock_present" not in body


async def test_pause_and_halt_reach_the_second_venue_with_its_own_kill_switch(h: Harness) -> None:
    """Polymarket US beside Kalshi: one /pause refuses its orders too; /halt locks its own kill switch."""
    us_root = h.rig.root / "data" / "polymarket_us" / "live"
    us_root.mkdir(parents=True)
    us_db = Database(us_root / "us.db")
    us_cancels: list[int] = []
    us_notes: list[Notification] = []
    us_notifier = h.notifier.for_venue("Polymarket US", "python main.py --reset-killswitch --mode polymarket-us-live",
                                       us_root)
    us_notifier._put = us_notes.append  # type: ignore[method-assign]
    us_ks = KillSwitch(h.rig.risk, h.rig.starting, us_db, us_root, mode=Mode.LIVE, clock=h.rig.clock,
                       cancel_all=lambda: us_cancels.append(1), out=lambda _: None, on_event=us_notifier.kill_switch)
    us_gate = h.gate.sharing(us_ks)
    h.also_halt.append(HaltTarget("Polymarket US", us_ks, us_root))
    intent = OrderIntent("us-slug", Side.YES, D("1"), D("0.50"), "c-us")
    try:
        assert us_gate.check_order_allowed(intent).allowed
        reply = await h.command("/pause")
        assert reply is not None and "no new orders on Kalshi or Polymarket US" in reply
        assert us_gate.check_order_allowed(intent).reason == PAUSED_REASON and not h.allowed().allowed
        reply = await h.command("/resume")
        assert reply is not None and "Kalshi and Polymarket US may place orders again" in reply
        assert us_gate.check_order_allowed(intent).allowed and h.allowed().allowed
        pnl = await h.command("/pnl")
        assert pnl is not None and "Polymarket US: P&L today $0.00, bankroll $100.00, kill switch active" in pnl
        reply = await h.command("/halt")
        assert reply is not None and "HARD STOP on Kalshi" in reply and "Polymarket US HARD STOP" in reply
        assert us_ks.hard_stopped and us_cancels == [1] and h.ks.hard_stopped and h.rig.cancels == 1
        lock = read_lock(us_root)
        assert lock is not None and lock.data is not None and lock.data["reason"] == "remote_halt"
        assert [n.title for n in us_notes if n.title.startswith("HARD STOP")] == [
            "HARD STOP (remote_halt) [Polymarket US]"]
        assert "--mode polymarket-us-live" in us_notes[-1].body
        assert not us_gate.check_order_allowed(intent).allowed
        reply = await h.command("/resume")  # never lifts a kill switch state, on either venue
        assert reply is not None and "may place orders" not in reply and "Polymarket US: hard_stopped" in reply
        assert not us_gate.check_order_allowed(intent).allowed
    finally:
        us_db.close()


async def test_halt_that_cannot_write_the_lock_still_shuts_down(h: Harness, monkeypatch: Any) -> None:
    from src.risk import remote_halt
    from src.risk.lockfile import LockWriteError

    def broken(root: Path, payload: dict[str, Any]) -> Path:
        raise LockWriteError("disk full")

    monkeypatch.setattr(remote_halt, "write_lock", broken)
    reply = await h.command("/halt")
    assert reply is not None and "could not lock" in reply and h.stops == [EXIT_HARD_STOP]


async def test_stop_is_a_clean_shutdown(h: Harness) -> None:
    reply = await h.command("/stop")
    assert reply is not None and "Stopping cleanly" in reply and h.stops == [EXIT_OK]
    assert read_lock(h.rig.root) is None and not h.ks.hard_stopped


async def test_old_commands_are_not_obeyed(h: Harness) -> None:
    h.tg.say(OWNER, "/stop", date=h.rig.clock() - 600)
    await h.poller.poll_once()
    assert h.stops == [] and "Ignored a command sent 600 s ago" in h.tg.sent[-1][1]


async def test_unknown_words_get_help(h: Harness) -> None:
    assert "Commands:" in (await h.command("hello") or "")
    assert "Unknown command /buy" in (await h.command("/buy 100") or "")
    assert command_word("  /Halt@bot now") == "/halt" and command_word("halt") == ""


async def test_polling_survives_telegram_failures_with_backoff(h: Harness) -> None:
    import asyncio

    h.tg.fail_next(500, times=2)
    h.tg.say(OWNER, "/status", date=h.rig.clock())
    task = asyncio.create_task(h.poller.run())
    for _ in range(200):
        await asyncio.sleep(0.01)
        if h.tg.sent:
            break
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert len(h.sleeps) == 2 and h.tg.sent and h.tg.sent[0][0] == OWNER


async def test_api_errors_never_show_the_token(h: Harness) -> None:
    wrong = TelegramApi("7000000001:AAwrongTokenForTests0123456789abcd", connector_factory=h.tg.connector)
    with pytest.raises(TelegramError) as info:
        await wrong.get_updates(None, 0)
    await wrong.close()
    assert str(info.value) == "getUpdates: HTTP 401" and "AAwrong" not in repr(wrong)
    with pytest.raises(TelegramError):
        TelegramApi("abc/../x")


async def test_every_request_passes_the_allowlist(h: Harness, monkeypatch: Any) -> None:
    checked: list[str] = []
    real = telegram_api.check_url

    def spy(url: str, hosts: frozenset[str], schemes: frozenset[str]) -> str:
        checked.append(url.split("/bot")[0])
        return real(url, hosts, schemes)

    monkeypatch.setattr(telegram_api, "check_url", spy)
    await h.command("/status")
    assert checked == ["https://api.telegram.org", "https://api.telegram.org"]
    assert telegram_api.TELEGRAM_HOSTS == frozenset({"api.telegram.org"})


async def test_handled_commands_are_confirmed_so_a_restart_does_not_repeat_them(h: Harness) -> None:
    await h.command("/stop")
    assert h.stops == [EXIT_OK] and h.tg.updates  # handled, not yet confirmed to Telegram
    await h.poller.acknowledge()
    assert h.tg.updates == []
    restarted = TelegramPoller(h.api, h.handler, poll_timeout_s=0, clock=h.rig.clock)
    await restarted.poll_once()
    assert h.stops == [EXIT_OK]  # the /stop was not delivered a second time


async def test_a_remote_halt_is_reset_at_the_terminal_like_any_hard_stop(h: Harness) -> None:
    from src.db import Database, db_path_for
    from src.risk.reset import reset_killswitch

    await h.command("/halt")
    paper = Database(db_path_for(h.rig.root, Mode.PAPER))  # what main.py opens before reading the lock's mode
    try:
        code = reset_killswitch(h.rig.root, paper, input_fn=lambda _: "RESET", isatty=lambda: True,
                                out=lambda _: None, clock=h.rig.clock)
    finally:
        paper.close()
    assert code == EXIT_OK and read_lock(h.rig.root) is None
    assert h.rig.kinds()[-1] == "reset"  # recorded in the live database, where the halt happened
