"""The --mode names of the databases that --report and --reset-killswitch read beside the run modes."""

from __future__ import annotations

from src.model.models import Mode

POLYMARKET = "polymarket"  # --mode value for Polymarket paper trading's own database and kill switch
POLYMARKET_US = {"polymarket-us-paper": Mode.PAPER, "polymarket-us-live": Mode.LIVE}  # Polymarket US, per mode
RESET_COMMAND = "python main.py --reset-killswitch"


def us_reset_command(mode: Mode) -> str:
    """What the owner types to reset a Polymarket US kill switch after a HARD STOP (a main.py --mode choice)."""
    flag = next(name for name, m in POLYMARKET_US.items() if m is mode)
    return f"{RESET_COMMAND} --mode {flag}"


def polymarket_reset_command() -> str:
    """What the owner types to reset Polymarket paper trading's kill switch."""
    return f"{RESET_COMMAND} --mode {POLYMARKET}"
