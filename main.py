"""CLI entry point: parse the flags and dispatch each to its command; the daemon runs start-up steps 1-4 here."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from src.app.kalshi_daemon import build_and_run
from src.app.reset_cli import cmd_reset
from src.cli.console import fail, say
from src.config import PROJECT_ROOT, ConfigError, Settings, load_settings, missing_kalshi_secrets
from src.model.exit_codes import EXIT_ERROR, EXIT_LIVE_REFUSED, EXIT_OK, EXIT_USAGE
from src.model.models import Mode
from src.model.report_modes import POLYMARKET, POLYMARKET_US, polymarket_reset_command
from src.reporting.report_cli import cmd_report
from src.research.backtest_cli import cmd_backtest
from src.risk.lockfile import risk_root

EPILOG = """examples:
  python main.py --sim                          offline simulator, no credentials or network
  python main.py --sim --speed 300 --replay prices.csv
  python main.py --backtest prices.csv --from 2023-03-01 --to 2023-03-02 --out results/
  python main.py --download-history --from 2026-11-01 --to 2026-11-30   past KXBTC15M markets + BTC
  python main.py --backtest data/history        TAPE backtest on the downloaded history
  python main.py --paper                        paper trading on real Kalshi books (default)
  python main.py --record-only                  record real market data (data/recordings/) without trading
  python main.py --backtest data/recordings/2026-12-07 --latency-ms 0,100,250
                                                replay recorded real books through the bot, per latency
  python main.py --edge-report data/recordings/2026-12-07
                                                lead-lag, mispricing persistence, calibration, latency sweep
  python main.py --verify                       check the Kalshi and BTC feed connections
  python main.py --report --date 2026-11-23 --mode paper [--json]
  python main.py --reset-killswitch             remove kill_switch.lock after a HARD STOP
  python main.py --live                         real money (needs LIVE_TRADING=true and a typed confirmation)

exit codes: 0 ok, 1 error, 2 usage/config error, 3 kill switch lock or HARD STOP,
            4 halted on auth failures, 5 live trading refused"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="main.py",
        description="Kalshi KXBTC15M BTC-lag trading bot (paper by default).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    action = p.add_mutually_exclusive_group()
    action.add_argument("--paper", action="store_true",
                        help="paper trading (the default): real market data, simulated fills, no orders sent")
    action.add_argument("--live", action="store_true",
                        help="real orders; also needs LIVE_TRADING=true in .env and a typed confirmation")
    action.add_argument("--verify", action="store_true",
                        help="check every connection (Kalshi, BTC feed), print a report and exit")
    action.add_argument("--report", action="store_true",
                        help="print one day's trading summary (see --date, --mode, --json) and exit")
    action.add_argument("--reset-killswitch", action="store_true",
                        help="show kill_switch.lock and remove it after a typed confirmation")
    action.add_argument("--sim", action="store_true",
                        help="run the whole bot offline against the built-in simulated exchange")
    action.add_argument("--backtest", metavar="FILE", type=Path,
                        help="replay a price file (synthetic book), a recording folder (real books) or a "
                             "--download-history directory (TAPE: Kalshi's real prints) fast, then print a report")
    action.add_argument("--record-only", action="store_true",
                        help="record real market data to data/recordings/ without trading")
    action.add_argument("--edge-report", metavar="RECORDING", type=Path,
                        help="measure the edge on a recording: lead-lag, mispricing persistence, calibration, "
                             "latency sweep")
    action.add_argument("--download-history", action="store_true",
                        help="download settled KXBTC15M markets, trades, candles and BTC prices "
                             "for --from..--to (days, UTC) into --out (default data/history); resumable")
    action.add_argument("--import-history", nargs="+", type=Path, metavar="FILE",
                        help="add saved Kalshi API trades/markets (JSON/JSONL) and BTC price files "
                             "(Binance CSV/ZIP) to --out (default data/history)")
    p.add_argument("--config", metavar="PATH", type=Path, default=None,
                   help="config.yaml to use (default: the one in the project root)")
    p.add_argument("--date", metavar="YYYY-MM-DD", help="--report: the UTC day (default: today)")
    p.add_argument("--mode", choices=[*(m.value for m in Mode), POLYMARKET, *POLYMARKET_US], default=None,
                   help="--report: which mode's database (default: paper; polymarket = Polymarket international "
                        "paper; polymarket-us-paper, polymarket-us-live = Polymarket US); "
                        "--reset-killswitch: sim or a polymarket mode resets that one's own kill switch")
    p.add_argument("--json", action="store_true", help="--report/--backtest: print JSON instead of a table")
    p.add_argument("--speed", metavar="N", type=float, default=None,
                   help="--sim: simulated seconds per real second (default: sim.speed in config)")
    p.add_argument("--replay", metavar="FILE", type=Path, default=None,
                   help="--sim: replay this price file instead of the built-in generator")
    p.add_argument("--from", dest="start", metavar="T", default=None,
                   help="--backtest, --edge-report, --download-history: start (YYYY-MM-DD or ISO 8601, UTC)")
    p.add_argument("--to", dest="end", metavar="T", default=None,
                   help="--backtest, --edge-report, --download-history: end (YYYY-MM-DD or ISO 8601, UTC)")
    p.add_argument("--out", metavar="DIR", type=Path, default=None,
                   help="--backtest: also write trades as CSV and JSON into DIR; --download-history, "
                        "--import-history: the history folder (default data/history)")
    p.add_argument("--latency-ms", metavar="MS[,MS...]", default=None,
                   help="--backtest RECORDING / --edge-report: order latencies to replay (default 0,50,100,250,1000)")
    args = p.parse_args(argv)
    if args.latency_ms is not None and args.edge_report is None and args.backtest is None:
        p.error("--latency-ms goes with --backtest RECORDING or --edge-report")
    if args.speed is not None and not args.sim:
        p.error("--speed goes with --sim")
    if args.replay is not None and not args.sim:
        p.error("--replay goes with --sim")
    if (args.start or args.end) and args.backtest is None and args.edge_report is None and not args.download_history:
        p.error("--from/--to go with --backtest, --edge-report or --download-history")
    if args.out and args.backtest is None and not (args.download_history or args.import_history):
        p.error("--out goes with --backtest, --download-history or --import-history")
    if args.date and not args.report:
        p.error("--date goes with --report")
    if args.mode and not (args.report or args.reset_killswitch):
        p.error("--mode goes with --report or --reset-killswitch")
    if args.speed is not None and not 0 < args.speed <= 100000:
        p.error("--speed must be above 0 and at most 100000")
    return args


# -- commands that do not trade -------------------------------------------------------------------


def cmd_download_history(args: argparse.Namespace, root: Path) -> int:
    from src.journal.log_setup import setup_logging
    from src.research.history_cli import DEFAULT_DIR, run_download

    settings = load_settings(config_path=args.config, root=root)
    setup_logging(root, "WARNING")  # the progress bar owns the terminal
    return run_download(settings, args.start, args.end, args.out or root / DEFAULT_DIR, progress=sys.stderr)


# -- the daemon -----------------------------------------------------------------------------------


def polymarket_lock_roots(settings: Settings, root: Path, mode: Mode) -> list[tuple[Path, str]]:
    """Where the Polymarket copier that would run beside Kalshi keeps its kill-switch lock, and its reset command."""
    poly = settings.app.platforms.polymarket
    if not poly.enabled or mode not in (Mode.PAPER, Mode.LIVE):
        return []
    if poly.venue == "us":
        from src.model.file_locations import us_risk_root
        from src.model.report_modes import us_reset_command

        return [(us_risk_root(root, mode), us_reset_command(mode))]
    from src.app.poly_daemon import polymarket_risk_root  # international: paper only (refused live below)

    return [(polymarket_risk_root(root), polymarket_reset_command())]


def run_daemon(args: argparse.Namespace, mode: Mode, root: Path) -> int:
    from src.risk.kill_switch import RESET_COMMAND, print_stderr, startup_lock_check

    say(1, "checking for kill_switch.lock")
    # A real lock stops everything, the simulator included; the simulator's own lock stops only it.
    for where in dict.fromkeys((root, risk_root(root, mode))):
        code = startup_lock_check(where)
        if code != EXIT_OK:
            return code

    say(2, "loading .env" if mode is not Mode.SIM else "loading .env (not needed for --sim)")
    settings = load_settings(config_path=args.config, root=root)
    # Step 1, continued: an enabled Polymarket venue's own lock refuses too, before anyone types LIVE
    # (it needs the config, so it comes right after loading it).
    for where, reset in polymarket_lock_roots(settings, root, mode):
        code = startup_lock_check(where, out=lambda message, reset=reset: print_stderr(
            message.replace(RESET_COMMAND, reset)))  # that venue's own reset, not Kalshi's
        if code != EXIT_OK:
            return code
    if mode is not Mode.SIM and not args.verify:  # --verify reports missing keys as a failed check
        missing = missing_kalshi_secrets(settings.secrets)
        if missing:
            return fail(
                f"missing in .env: {', '.join(missing)} (copy .env.example to .env and fill it in; "
                "or try --sim, which needs no credentials)",
                EXIT_USAGE,
            )
    if mode is Mode.LIVE:
        # Refuse before touching the network; the typed confirmation comes at step 11.
        from src.execution.live import live_refusal

        refusal = live_refusal(settings.live_trading_enabled, True, sys.stdin.isatty())
        if refusal is not None:
            return fail(refusal, EXIT_LIVE_REFUSED)
        poly = settings.app.platforms.polymarket
        if poly.enabled and poly.venue != "us":
            return fail("live trading refused: the Polymarket international venue is paper-only (it geoblocks US "
                        "persons); set platforms.polymarket.venue: us, or enabled: false", EXIT_LIVE_REFUSED)
        if poly.enabled:  # Polymarket US trades live beside Kalshi, after its own typed confirmation
            from src.app.poly_us_daemon import PolymarketUsSetupError, load_us_key

            try:
                load_us_key(settings, required=True)
            except PolymarketUsSetupError as exc:
                return fail(str(exc), EXIT_USAGE)
    say(3, f"loaded {args.config or root / 'config.yaml'}")
    say(4, f"loaded USER_CONFIG.json (starting bankroll ${settings.user.starting_bankroll_usd})")

    from src.journal.log_setup import register_secret, setup_logging

    setup_logging(root, settings.app.logging.level)
    for key in ("KALSHI_API_KEY_ID", "POLY_API_KEY", "POLY_API_SECRET", "POLY_API_PASSPHRASE", "POLY_PRIVATE_KEY",
                "POLYMARKET_KEY_ID", "POLYMARKET_SECRET_KEY"):
        register_secret(settings.secrets.get(key))

    if args.verify:
        from setup.verify import run_verify

        say(5, "verifying connections")
        return run_verify(settings)

    return asyncio.run(build_and_run(settings, mode, root, speed=args.speed, replay=args.replay))


def main(argv: list[str] | None = None, root: Path = PROJECT_ROOT) -> int:
    args = parse_args(argv)
    try:
        if args.report:
            return cmd_report(args, root)
        if args.reset_killswitch:
            return cmd_reset(args, root)
        if args.backtest is not None:
            return cmd_backtest(args, root)
        if args.edge_report is not None:
            from src.research.replay_cli import cmd_edge_report

            return cmd_edge_report(args, load_settings(config_path=args.config, root=root), root)
        if args.record_only:
            from src.app.record_daemon import cmd_record_only

            return cmd_record_only(args, root)
        if args.download_history:
            return cmd_download_history(args, root)
        if args.import_history:
            from src.research.history_cli import DEFAULT_DIR, run_import

            return run_import(args.import_history, args.out or root / DEFAULT_DIR)
        mode = Mode.LIVE if args.live else Mode.SIM if args.sim else Mode.PAPER
        return run_daemon(args, mode, root)
    except ConfigError as exc:
        return fail(str(exc), EXIT_USAGE)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - user-facing: one line here, the traceback to logs/errors/
        return _unexpected(exc, root)


def _unexpected(exc: BaseException, root: Path) -> int:
    from src.auth.kalshi_auth import KalshiAuthError

    if isinstance(exc, KalshiAuthError):
        return fail(str(exc), EXIT_USAGE)
    errors = root / "logs" / "errors"
    try:
        errors.mkdir(parents=True, exist_ok=True)
        logging.getLogger("polybot").error("unexpected error", exc_info=exc)
        where = f" (details in {errors})"
    except OSError:
        where = ""
    return fail(f"unexpected {type(exc).__name__}: {exc}{where}", EXIT_ERROR)


if __name__ == "__main__":
    sys.exit(main())
