"""The label every result made against the simulated (synthetic) Kalshi book carries."""

from __future__ import annotations


def synthetic_book_label(lag_s: float | None) -> str:
    """The warning on every synthetic-book result: its profit is the lag it assumed, not Kalshi's.

    None: the lag is not known (a simulator database written before the lag was recorded)."""
    if lag_s is None:
        return "SYNTHETIC BOOK: profit reflects the assumed Kalshi lag sim.lag_s (not recorded), not Kalshi."
    return f"SYNTHETIC BOOK: profit reflects the assumed Kalshi lag sim.lag_s = {lag_s:g} s, not Kalshi."
