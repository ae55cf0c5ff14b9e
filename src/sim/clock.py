"""The simulated clock: simulated epoch seconds that only the replay or the backtest moves forward."""

from __future__ import annotations


class SimClock:
    """A Clock (callable returning epoch seconds) whose time is set by whoever drives the simulation.

    It never goes backwards: `advance_to` an earlier time is ignored, so a late tick cannot rewind
    the kill switch's cooling period or the settlement of a market.
    """

    __slots__ = ("now",)

    def __init__(self, start: float) -> None:
        self.now = float(start)

    def __call__(self) -> float:
        return self.now

    def advance_to(self, ts: float) -> None:
        if ts > self.now:
            self.now = ts

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"a clock cannot go back: advance({seconds})")
        self.now += seconds
