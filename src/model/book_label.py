"""The label every result made against the simulated (synthetic) Kalshi book carries."""

from __future__ import annotations


def synthetic_book_label(lag_s: float) -> str:
    """The warning on every synthetic-book result: its profit is the lag it assumed, not Kalshi's."""
    return f"SYNTHETIC BOOK: profit reflects the assumed Kalshi lag sim.lag_s = {lag_s:g} s, not Kalshi."
