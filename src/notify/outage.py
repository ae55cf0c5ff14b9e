"""Tell when a dependency has shown no sign of life for longer than a threshold, and when it is back."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class OutageChange:
    """went_down: silent for down_for_s since since_ts; otherwise it is back after down_for_s."""

    went_down: bool
    down_for_s: float
    since_ts: float


class OutageTracker:
    """Fed the time of the last good sign (a feed tick, a venue answer) at each sample.

    Reports "down" once when the silence passes threshold_s, then "up" once when a newer good
    sign arrives; a short gap under the threshold is never reported at all.
    """

    def __init__(self, threshold_s: float, started_ts: float) -> None:
        if threshold_s <= 0:
            raise ValueError(f"outage threshold must be positive, got {threshold_s}")
        self.threshold_s = threshold_s
        self._started = started_ts
        self.down_since: float | None = None

    def sample(self, now: float, last_ok_ts: float | None) -> OutageChange | None:
        # Never seen alive: silent since the run began.
        since = last_ok_ts if last_ok_ts is not None else self._started
        silent = now - since
        if self.down_since is None:
            if silent > self.threshold_s:
                self.down_since = since
                return OutageChange(True, silent, since)
            return None
        if last_ok_ts is not None and last_ok_ts > self.down_since:
            down_for = last_ok_ts - self.down_since
            self.down_since = None
            return OutageChange(False, down_for, last_ok_ts)
        return None
