"""--reset-killswitch: find the lock of the mode asked for and hand it to the confirmed reset."""

from __future__ import annotations

import argparse
from pathlib import Path

from src.model.models import Mode
from src.model.report_modes import POLYMARKET, POLYMARKET_US
from src.risk.lockfile import risk_root


def cmd_reset(args: argparse.Namespace, root: Path) -> int:
    from src.db import Database, db_path_for
    from src.risk.lockfile import read_lock
    from src.risk.reset import reset_killswitch

    if args.mode == POLYMARKET:
        from src.app.poly_daemon import polymarket_risk_root
        from src.db import PolymarketDatabase, polymarket_db_path

        poly_db = PolymarketDatabase(polymarket_db_path(root))
        try:
            return reset_killswitch(polymarket_risk_root(root), poly_db)
        finally:
            poly_db.close()
    if args.mode in POLYMARKET_US:
        from src.db import PolymarketDatabase
        from src.model.file_locations import us_db_path, us_risk_root

        us_mode = POLYMARKET_US[args.mode]
        us_db = PolymarketDatabase(us_db_path(root, us_mode))
        try:
            return reset_killswitch(us_risk_root(root, us_mode), us_db)
        finally:
            us_db.close()
    sim = args.mode == Mode.SIM.value
    where = risk_root(root, Mode.SIM) if sim else root
    info = read_lock(where)
    mode = Mode.SIM if sim else Mode.PAPER
    data = info.data if info is not None and info.data is not None else {}
    figures = data.get("figures") if isinstance(data.get("figures"), dict) else {}
    # The kill switch writes the mode among the lock's figures (a remote halt also at the top level).
    named = figures.get("mode") or data.get("mode")
    if not sim and named in ("paper", "live"):
        mode = Mode(named)
    db = Database(db_path_for(root, mode))
    try:
        return reset_killswitch(where, db)
    finally:
        db.close()
