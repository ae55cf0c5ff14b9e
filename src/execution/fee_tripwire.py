"""The fee tripwire: new orders are refused while the venue's fee terms differ from what fees.py assumes.

fees.py prices every order with Kalshi's taker formula and says which fee terms it holds for
(fee_terms_mismatch: fee_type quadratic or quadratic_with_maker_fees, and 0.07 x fee_multiplier
equal to its TAKER_FEE_MULTIPLIER).

The terms are read at start-up and again every `recheck_s` (10 min), together with the fee changes
the venue has announced for the series (`GET /series/fee_changes`): a change whose time has come
and that the model does not match trips the wire as well, even if the series record lags. While
tripped, `refusal()` gives the reason and the daemon refuses every new order with it until a person
updates the fee model. A check that cannot reach the venue keeps the previous verdict and is tried
again 30 s later; before any check has succeeded, orders are refused (the fees are unknown).

The venue also announces event-level fee overrides on the websocket (`event_fee_update`):
`note_override` refuses at once when an override is one the model does not match (a cleared
override lifts it), and the daemon runs a full `check()` right after (src/execution/venue_events.py).
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Protocol

from src.model.fees import fee_terms_mismatch
from src.model.models import Clock

log = logging.getLogger("polybot.fees")

DEFAULT_RECHECK_S = 600.0
RETRY_AFTER_FAILURE_S = 30.0
REASON = "fee_model_mismatch"


class FeeTerms(Protocol):
    @property
    def fee_type(self) -> str: ...

    @property
    def fee_multiplier(self) -> Decimal: ...


class ScheduledFeeTerms(FeeTerms, Protocol):
    @property
    def scheduled_ts(self) -> float: ...


class FeeSource(Protocol):
    """What the tripwire reads from the Kalshi client."""

    async def get_series_fees(self, series_ticker: str | None = None) -> FeeTerms: ...

    async def get_fee_changes(self, series_ticker: str | None = None) -> list[ScheduledFeeTerms]: ...


class FeeTripwire:
    """Remembers the last verdict on the series' fee terms and re-checks them on a timer."""

    def __init__(self, source: FeeSource, series_ticker: str, clock: Clock, *,
                 recheck_s: float = DEFAULT_RECHECK_S) -> None:
        self._source = source
        self.series_ticker = series_ticker
        self._clock = clock
        self._recheck_s = recheck_s
        self._checked_ts: float | None = None
        self._refusal = f"the fee terms of {series_ticker} have not been checked yet"
        self.terms = ""  # what the venue said last, for --verify and the logs
        self._announced: list[tuple[float, str]] = []  # future changes the model does not match
        self._series_terms: tuple[str, Decimal] = ("quadratic", Decimal(1))  # as last read (overrides fill gaps)
        self._overrides: dict[str, str] = {}  # event ticker -> why its fee override is not modelled

    def refusal(self) -> str:
        """Why new orders must be refused ("" when the fee model matches the venue).

        An announced change the model does not match refuses from its scheduled time on, even
        before the next check reads it back."""
        now = self._clock()
        if self._refusal:
            return self._refusal
        due = [problem for ts, problem in self._announced if ts <= now] + list(self._overrides.values())
        if due:
            return "; ".join(due) + "; update src/model/fees.py"
        return ""

    def note_override(self, event_ticker: str, fee_type: str | None, multiplier: Decimal | None) -> str:
        """An event's fee override as the venue pushed it; returns why it is not modelled ("" = fine).

        A field left out (None) keeps the series' value; both None clears the override."""
        if fee_type is None and multiplier is None:
            self._overrides.pop(event_ticker, None)
            return ""
        series_type, series_multiplier = self._series_terms
        problem = fee_terms_mismatch(fee_type or series_type, series_multiplier if multiplier is None else multiplier)
        if problem:
            self._overrides[event_ticker] = f"{event_ticker} fee override: {problem}"
            log.error("fee tripwire: new orders refused: %s", self._overrides[event_ticker])
        else:
            self._overrides.pop(event_ticker, None)
        return problem or ""

    async def check(self) -> str:
        """Read the venue's terms and announced changes now; returns the refusal ("" = fine)."""
        now = self._clock()
        try:
            current = await self._source.get_series_fees(self.series_ticker)
            changes = await self._source.get_fee_changes(self.series_ticker)
        except Exception as exc:  # noqa: BLE001 - keep the last verdict; a later check retries
            log.warning("fee check of %s failed: %s: %s", self.series_ticker, type(exc).__name__, exc)
            # Try again in RETRY_AFTER_FAILURE_S rather than a full recheck_s later.
            self._checked_ts = now - self._recheck_s + min(RETRY_AFTER_FAILURE_S, self._recheck_s)
            return self._refusal
        self.terms = f"{current.fee_type} x{format(current.fee_multiplier.normalize(), 'f')}"
        self._series_terms = (current.fee_type, current.fee_multiplier)
        problems = []
        announced: list[tuple[float, str]] = []
        problem = fee_terms_mismatch(current.fee_type, current.fee_multiplier)
        if problem:
            problems.append(f"{self.series_ticker}: {problem}")
        for change in changes:
            if change.scheduled_ts <= now:
                problem = fee_terms_mismatch(change.fee_type, change.fee_multiplier)
                if problem:
                    problems.append(f"{self.series_ticker} fee change in effect: {problem}")
            else:
                problem = fee_terms_mismatch(change.fee_type, change.fee_multiplier)
                if problem:
                    announced.append((change.scheduled_ts, f"{self.series_ticker} fee change in effect: {problem}"))
                    log.warning("%s: a fee change to %s x%s is announced; orders stop when it takes effect",
                                self.series_ticker, change.fee_type, change.fee_multiplier)
        refusal = "; ".join(problems) + ("; update src/model/fees.py" if problems else "")
        if refusal and refusal != self._refusal:
            log.error("fee tripwire: new orders refused: %s", refusal)
        self._refusal, self._checked_ts, self._announced = refusal, now, announced
        return refusal

    async def maybe_check(self) -> str:
        """Check when `recheck_s` has passed since the last check (or none was made)."""
        if self._checked_ts is None or self._clock() - self._checked_ts >= self._recheck_s:
            return await self.check()
        return self.refusal()
