"""Check every connection the bot needs (Kalshi, the BTC feed) and print one ✓/✗ line per check."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

if __package__ in (None, ""):  # run as `python setup/verify.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from src.auth.kalshi_auth import KalshiAuthError  # noqa: E402
from src.config import ConfigError, Settings, load_settings  # noqa: E402
from src.data.feed_check import check_feed  # noqa: E402
from src.data.kalshi_ws_check import check_kalshi_ws  # noqa: E402
from src.model.models import CheckResult  # noqa: E402
from src.platforms.kalshi import load_auth  # noqa: E402
from src.platforms.kalshi_verify import verify_kalshi  # noqa: E402
from src.platforms.polymarket_us_verify import PolymarketChecks, verify_polymarket  # noqa: E402

KalshiChecks = Callable[[Settings], Awaitable[list[CheckResult]]]
FeedChecks = Callable[[Settings], Awaitable[list[CheckResult]]]


async def _feed_checks(settings: Settings) -> list[CheckResult]:
    return await check_feed(settings.app.feed, seconds=5.0)


async def _kalshi_ws_checks(settings: Settings) -> list[CheckResult]:
    try:
        signer = load_auth(settings)
    except KalshiAuthError:
        signer = None  # the credentials line already says why
    return await check_kalshi_ws(settings.app.kalshi, signer, seconds=5.0)


async def collect(
    settings: Settings,
    *,
    kalshi: KalshiChecks = verify_kalshi,
    feed: FeedChecks = _feed_checks,
    kalshi_ws: KalshiChecks = _kalshi_ws_checks,
    polymarket: PolymarketChecks = verify_polymarket,
) -> list[CheckResult]:
    """Kalshi, Kalshi websocket, feed and Polymarket checks run concurrently; a check that blows up fails its line."""
    results = await asyncio.gather(kalshi(settings), kalshi_ws(settings), feed(settings), polymarket(settings),
                                   return_exceptions=True)
    out: list[CheckResult] = []
    for name, result in zip(("Kalshi", "Kalshi websocket", "BTC feed", "Polymarket"), results, strict=True):
        if isinstance(result, BaseException):
            out.append(CheckResult(name, False, f"{type(result).__name__}: {result}", "see logs/errors/"))
        else:
            out.extend(result)
    return out


def render(results: list[CheckResult]) -> tuple[str, int]:
    """The report text and the exit code: 0 only when every check passed."""
    lines = []
    for r in results:
        mark = "✓" if r.ok else "✗"
        line = f"{mark} {r.name}" + (f": {r.detail}" if r.detail else "")
        if not r.ok and r.hint:
            line += f"\n    hint: {r.hint}"
        lines.append(line)
    failed = sum(1 for r in results if not r.ok)
    lines.append(f"checks: {len(results) - failed} ok, {failed} failed" if results else "no checks ran")
    return "\n".join(lines), (0 if results and failed == 0 else 1)


def run_verify(settings: Settings, out: Callable[[str], None] = print) -> int:
    text, code = render(asyncio.run(collect(settings)))
    out(text)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check the Kalshi and BTC feed connections.")
    parser.add_argument("--config", type=Path, default=None, help="config.yaml to use")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(config_path=args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return run_verify(settings)


if __name__ == "__main__":
    sys.exit(main())
