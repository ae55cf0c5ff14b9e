"""The --mode names of the databases that --report and --reset-killswitch read beside the run modes."""

from __future__ import annotations

from src.model.models import Mode

POLYMARKET = "polymarket"  # --mode value for Polymarket paper trading's own database and kill switch
POLYMARKET_US = {"polymarket-us-paper": Mode.PAPER, "polymarket-us-live": Mode.LIVE}  # Polymarket US, per mode
