"""Where each venue's and mode's files live under the project root, so every layer names them alike."""

from __future__ import annotations

from pathlib import Path

from src.model.models import Mode

EDGE_DB = Path("data") / "edge.db"  # --edge-report writes it (src/research/edge_store.py); the dashboard reads it


def db_path_for(root: Path, mode: Mode) -> Path:
    """Each mode has its own file so a simulation can never touch the live bankroll (DECISIONS §6)."""
    return root / "data" / f"{mode.value}.db"


def polymarket_db_path(root: Path) -> Path:
    """Polymarket paper trading's own file: its trades and bankroll never mix with Kalshi's paper.db."""
    return root / "data" / "polymarket_paper.db"


def us_mode_name(mode: Mode) -> str:
    """A Polymarket US mode's name: its health `mode`, its trade log's `mode` and its database's file stem."""
    return f"polymarket_us_{mode.value}"


def us_db_path(root: Path, mode: Mode) -> Path:
    return root / "data" / f"{us_mode_name(mode)}.db"


def us_risk_root(root: Path, mode: Mode) -> Path:
    """Where a Polymarket US mode's own kill switch keeps its lock and KILL_SWITCH_EVENT.log."""
    return root / "data" / "polymarket_us" / mode.value


def edge_db_path(root: Path) -> Path:
    return root / EDGE_DB
