"""The remote pause: a gate in front of the kill switch that refuses new orders while the owner has paused."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from src.model.interfaces import Gate, GateStatus
from src.model.models import OrderIntent, Verdict

PAUSED_REASON = "remote_pause"


@dataclass
class _PauseFlag:
    """Who paused (None: not paused); shared by the gates of every venue the run trades."""

    by: str | None = None


class PauseGate:
    """Wraps the kill switch (the Gate the engine and executors check before every order).

    Pausing can only add a refusal: the kill switch is asked first and its refusal always wins,
    and resume() only clears this gate's own flag. Nothing here can lift a cooling period, a
    daily halt or a HARD STOP, which belong to the kill switch alone. Positions already open
    are untouched and settle normally.
    """

    def __init__(self, inner: Gate, *, _flag: _PauseFlag | None = None) -> None:
        self._inner = inner
        self._flag = _flag if _flag is not None else _PauseFlag()

    def sharing(self, inner: Gate) -> PauseGate:
        """A gate in front of another venue's kill switch with this same pause: one /pause stops both."""
        return PauseGate(inner, _flag=self._flag)

    @property
    def paused(self) -> bool:
        return self._flag.by is not None

    def pause(self, by: str) -> bool:
        """Returns False if it was already paused."""
        was = self.paused
        self._flag.by = by
        return not was

    def resume(self) -> bool:
        """Lift the pause only; returns False if it was not paused."""
        was = self.paused
        self._flag.by = None
        return was

    def check_order_allowed(self, order: OrderIntent) -> Verdict:
        verdict = self._inner.check_order_allowed(order)
        if not verdict.allowed:
            return verdict
        if self._flag.by is not None:
            return Verdict(False, PAUSED_REASON, f"paused by {self._flag.by}: send /resume to trade again")
        return verdict

    def status(self) -> GateStatus:
        return self._inner.status()

    @property
    def bankroll(self) -> Decimal:
        return self._inner.bankroll

    @property
    def should_exit(self) -> bool:
        return self._inner.should_exit

    @property
    def exit_code(self) -> int:
        return self._inner.exit_code
