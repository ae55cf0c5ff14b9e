"""The whole daemon (main.main --paper) with notifications on: the owner's webhook hears start, a paper fill
and the HARD STOP a Telegram /halt causes; a stranger's /stop is ignored; no secret reaches any message."""

from __future__ import annotations

import dataclasses
import html
import re
import time
from pathlib import Path
from typing import Any

import pytest

from src.config import Secrets
from src.model.exit_codes import EXIT_HARD_STOP
from src.risk.lockfile import read_lock
from tests.fakes.fault_daemon import DaemonRun, add_test_market, run_main, send_flat, send_ramp
from tests.fakes.fault_project import make_project
from tests.fakes.fault_secrets import find_leaks
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.webhook_receiver import WebhookReceiver

TOKEN = "7000000002:AAHdaemonTestToken0123456789abcdefXY"
OWNER = 515151
FAST = {
    "kalshi": {"poll_interval_s": 0.2},
    "execution": {"status_interval_s": 0.5},
    # One try per message: a delivery failure shows in the notifications table at once (and fails
    # the test) instead of being retried for two minutes.
    "notify": {"max_attempts": 1},
}

pytestmark = pytest.mark.usefixtures("daemon_env")


def test_paper_daemon_notifies_and_obeys_the_owner_only(monkeypatch: Any, capfd: Any, tmp_path: Path,
                                                        secrets: Any) -> None:
    import main as main_module

    env = secrets.env_text() + f"NOTIFY_URLS=tgram://{TOKEN}/{OWNER}\nTELEGRAM_CHAT_IDS={OWNER}\n"
    root = make_project(tmp_path, config=FAST, env_text=env)
    seen: dict[str, Any] = {}
    real_build_and_run = main_module.build_and_run

    async def with_notify_fakes(settings: Any, mode: Any, project_root: Path, **kwargs: Any) -> int:
        # The owner's webhook joins the tgram:// line from .env; Telegram's Bot API is the local fake.
        async with WebhookReceiver() as hook, FakeTelegram(token=TOKEN) as tg:
            seen["hook"], seen["tg"] = hook, tg
            # Apprise's tgram:// (requests) reaches the same fake: its transport injected at the network level.
            tg.route_requests(monkeypatch, tmp_path)
            values = dict(settings.secrets.values)
            values["NOTIFY_URLS"] = f"{values['NOTIFY_URLS']} {hook.url}"
            settings = dataclasses.replace(settings, secrets=Secrets(values))
            kwargs["telegram_connector_factory"] = tg.connector
            return await real_build_and_run(settings, mode, project_root, **kwargs)

    monkeypatch.setattr(main_module, "build_and_run", with_notify_fakes)
    import src.app.notify_runtime as runtime_module

    real_start = runtime_module.NotifyRuntime.start

    def keep_watched(self: Any, **kwargs: Any) -> None:
        seen["watched"] = kwargs["watched"]
        real_start(self, **kwargs)

    monkeypatch.setattr(runtime_module.NotifyRuntime, "start", keep_watched)

    async def scenario(run: DaemonRun) -> None:
        engine = await run.wait_engine()
        hook, tg = seen["hook"], seen["tg"]
        await run.until(lambda: any(m["title"].startswith("Bot started") for m in hook.received), 10, "start")
        await run.until(lambda: run.binance.open_count > 0, 10, "the feed to connect")
        await send_flat(run.binance, 65000.0, 0.3)
        await send_ramp(run.binance, 65000.0, 65700.0)
        deadline = time.monotonic() + 15
        while engine.orders_sent < 1 and time.monotonic() < deadline:
            await send_flat(run.binance, 65700.0, 0.2)
        await run.until(lambda: any(m["title"].startswith("Filled:") for m in hook.received), 10, "the fill")
        # The outage watch reads the real feed and engine: both have just shown signs of life.
        ages = {w.name: time.time() - (w.last_ok_ts() or 0.0) for w in seen["watched"]}
        assert set(ages) == {"BTC feed", "Kalshi"} and all(0 <= age < 5 for age in ages.values()), ages
        tg.say(999, "/stop")  # a stranger
        tg.say(OWNER, "/pause")
        await run.until(lambda: any("Paused" in t for _, t in tg.sent), 10, "the /pause reply")
        assert not engine.stopping
        tg.say(OWNER, "/halt")
        await run.until(lambda: engine.stopping, 10, "the /halt to stop the engine")

    code, run = run_main(monkeypatch, ["--paper"], root, scenario, key=secrets.private_key, key_id=secrets.key_id,
                         setup=add_test_market)
    out, err = capfd.readouterr()
    assert code == EXIT_HARD_STOP, err[-2000:]
    hook, tg = seen["hook"], seen["tg"]
    titles = [m["title"] for m in hook.received]
    assert titles[0].startswith("Bot started (PAPER)")
    assert sum(t.startswith("Filled:") for t in titles) == run.engine.orders_sent == 1
    remote = ["Remote /pause from Telegram", "Remote /halt from Telegram"]
    assert [t for t in titles if t.startswith("Remote")] == remote
    assert sum(t.startswith("HARD STOP (remote_halt) [Kalshi]") for t in titles) == 1
    assert titles[-1] == "Bot stopped (PAPER)"
    assert {c for c, _ in tg.sent} == {OWNER} and tg.bad_token_calls == 0
    # Every notification the webhook got also reached the Bot API once (Apprise's HTML: <b>title</b>, body);
    # the other two messages are the replies to /pause and /halt.
    shown = [html.unescape(re.sub(r"<[^>]+>", "", t)) for _, t in tg.sent]
    for m in hook.received:
        assert sum(t.startswith(m["title"]) and m["message"] in t for t in shown) == 1, m["title"]
    replies = [t for t in shown if not any(t.startswith(m["title"]) for m in hook.received)]
    assert len(replies) == 2 and replies[0].startswith("Paused") and "HARD STOP on Kalshi" in replies[1]
    lock = read_lock(root)
    assert lock is not None and lock.data is not None and lock.data["reason"] == "remote_halt"
    assert "notifications to tgram://api.telegram.org, json://127.0.0.1; Telegram remote control" in out
    import sqlite3

    conn = sqlite3.connect(root / "data" / "paper.db")
    rows = conn.execute("SELECT service, status FROM notifications").fetchall()
    conn.close()
    assert ("json://127.0.0.1", "sent") in rows and ("tgram://api.telegram.org", "sent") in rows
    assert all(status == "sent" for _, status in rows), rows
    bodies = "\n".join(f"{m['title']} {m['message']}" for m in hook.received) + "\n".join(t for _, t in tg.sent)
    needles = [*secrets.needles(), TOKEN, TOKEN.split(":")[1]]
    assert not find_leaks(bodies + out + err, needles)
