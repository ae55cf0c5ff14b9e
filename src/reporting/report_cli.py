"""--report: one day's trades and P&L of a mode's database, as text or JSON."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path

from src.cli.console import fail
from src.cli.flag_dates import parse_day
from src.config import load_settings
from src.model.exit_codes import EXIT_OK, EXIT_USAGE
from src.model.file_locations import db_path_for, polymarket_db_path, us_db_path
from src.model.models import Mode
from src.model.report_modes import POLYMARKET, POLYMARKET_US


def how_to_fill(name: str) -> str:
    """Which run writes --report's database `name`: the Polymarket ones are not run modes of their own."""
    if name == POLYMARKET:
        flag, venue = "--paper", "international"
    elif name in POLYMARKET_US:
        flag, venue = ("--live" if POLYMARKET_US[name] is Mode.LIVE else "--paper"), "us"
    else:
        return f"run `python main.py --{name}`"
    return f"run `python main.py {flag}` with platforms.polymarket.enabled: true and venue: {venue} in config.yaml"


def cmd_report(args: argparse.Namespace, root: Path) -> int:
    from src.db import Database
    from src.reporting.report import build_day_report
    from src.reporting.report_render import render_json, render_text

    settings = load_settings(config_path=args.config, root=root)
    name = args.mode or "paper"
    day = parse_day(args.date, "--date")
    mode = Mode.PAPER if name == POLYMARKET else POLYMARKET_US.get(name) or Mode(name)
    if name == POLYMARKET:
        path = polymarket_db_path(root)
    elif name in POLYMARKET_US:
        path = us_db_path(root, mode)
    else:
        path = db_path_for(root, mode)
    if not path.exists():
        return fail(f"no {name} database yet ({path}); {how_to_fill(name)} first", EXIT_USAGE)
    db = Database(path)
    try:
        if day is None:
            # The simulator runs on its own clock: its "today" is the day of its last heartbeat.
            heartbeat = db.health().get("heartbeat_ts") if mode is Mode.SIM else None
            now = float(heartbeat[0]) if heartbeat else time.time()
            day = datetime.fromtimestamp(now, tz=UTC).date()
        report = build_day_report(db, name, day, settings.user.starting_bankroll_usd)
    finally:
        db.close()
    print(render_json(report) if args.json else render_text(report))
    return EXIT_OK
