"""The dashboard in a real headless Chromium: served by `streamlit run`, checked, screenshotted."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from src.db import Database
from src.model.models import Mode
from tests.fakes.trading_dbs import DASHBOARD, REPO, add_trade, build_halted, build_normal

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START_TIMEOUT_S = 45.0
UI_TIMEOUT_MS = 30_000


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is missing: install it with `apt-get install -y chromium` (Debian package)"
    if os.environ.get("CI"):
        pytest.fail(f"CI is set, so the browser test may not be skipped: {message}")
    pytest.skip(message)


def _screenshot(page: Page, out_dir: Path, name: str) -> Path:
    """The whole page: Streamlit scrolls inside its main block, so grow the viewport to fit it first."""
    height = page.evaluate(
        "() => Math.max(...[...document.querySelectorAll('[data-testid=\"stMain\"], body')]"
        ".map(e => e.scrollHeight))"
    )
    page.set_viewport_size({"width": 1400, "height": min(int(height) + 40, 6000)})
    page.wait_for_timeout(1500)  # charts redraw at the new size
    path = out_dir / name
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size({"width": 1400, "height": 1000})
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"streamlit exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as resp:  # noqa: S310
                if resp.read().strip() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail(f"streamlit did not become healthy in {START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    """A paper database (running bot) and a live one (hard stop) behind a real `streamlit run`."""
    _require_chromium()
    normal = build_normal(tmp_path, Mode.PAPER)
    build_halted(tmp_path)  # same root: data/live.db next to data/paper.db
    db = Database(normal.path)
    db.set_health({"dashboard_refresh_s": "1"}, time.time())  # as the daemon writes config.yaml's value
    db.close()
    port = _free_port()
    log = tmp_path / "streamlit.log"
    env = {**os.environ, "POLYBOT_ROOT": str(normal.root)}
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "streamlit", "run", str(DASHBOARD), "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
             "--", "--mode", "paper"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        _wait_healthy(port, proc, log)
        yield f"http://127.0.0.1:{port}/", normal.path, log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def test_dashboard_in_headless_chromium(served: tuple[str, Path, Path], tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, paper_db, log = served
    requests: list[str] = []
    sockets: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("request", lambda r: requests.append(r.url))
            page.on("websocket", lambda ws: sockets.append(ws.url))
            page.goto(url, wait_until="domcontentloaded")

            banner = page.locator(".polybot-banner")
            expect(banner).to_have_attribute("data-mode", "paper", timeout=UI_TIMEOUT_MS)
            expect(banner).to_contain_text("PAPER MODE")
            expect(page).to_have_title(re.compile("PAPER"))
            assert banner.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(21, 101, 192)"
            bankroll = page.locator('[data-testid="stMetric"]', has_text="Bankroll")
            expect(bankroll).to_contain_text("$102.13", timeout=UI_TIMEOUT_MS)
            expect(page.get_by_text("Kill switch: ACTIVE")).to_be_visible()
            expect(page.get_by_text("Stage 2 ($100–$250)")).to_be_visible()
            expect(page.locator('[data-testid="stVegaLiteChart"]')).to_have_count(2, timeout=UI_TIMEOUT_MS)
            expect(page.locator('[data-testid="stException"]')).to_have_count(0)
            _screenshot(page, tmp_path, "dashboard-paper.png")

            # The bot settles a trade: the page shows it by itself within a few refreshes, no reload.
            db = Database(paper_db)
            add_trade(db, ts=time.time() - 60, pnl="2.00", settle_after_s=30, bankroll_after=Decimal("104.13"))
            db.set_health({"bankroll": "104.13", "heartbeat_ts": str(time.time())}, time.time())
            db.close()
            expect(bankroll).to_contain_text("$104.13", timeout=10_000)

            # Switch to the live database from the sidebar.
            page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').click()
            page.get_by_role("option", name="LIVE").click()
            expect(banner).to_have_attribute("data-mode", "live", timeout=UI_TIMEOUT_MS)
            expect(banner).to_contain_text("LIVE MODE")
            expect(banner).to_contain_text("REAL MONEY")
            expect(page).to_have_title(re.compile("LIVE"))
            assert banner.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(198, 40, 40)"
            expect(page.get_by_text(re.compile("Kill switch: HARD_STOPPED"))).to_be_visible(timeout=UI_TIMEOUT_MS)
            expect(page.get_by_text("python main.py --reset-killswitch").first).to_be_visible()
            expect(bankroll).to_contain_text("$68.80", timeout=UI_TIMEOUT_MS)
            _screenshot(page, tmp_path, "dashboard-live-halted.png")
        finally:
            browser.close()

    origin = url.rstrip("/")
    foreign = [u for u in requests if not u.startswith((origin, "data:", "blob:"))]
    assert not foreign, f"the page reached beyond localhost: {foreign[:5]}"
    assert sockets and all(s.startswith(origin.replace("http", "ws", 1)) for s in sockets), sockets
    assert (tmp_path / "dashboard-paper.png").stat().st_size > 10_000
    assert "Traceback" not in log.read_text()


def test_missing_chromium_skips_locally_but_fails_on_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(sys.modules[__name__], "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y chromium"):
        _require_chromium()
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        _require_chromium()
