"""Cancel-all on a HARD STOP, checked: one batch cancel, a read to verify none rest, a loud report, retries.

The kill switch is synchronous: on a HARD STOP it calls a plain callable, which schedules
CancelAllRunner.run() on the loop (the daemon awaits it before exiting). Each round:
1. Kalshi's single batch cancel, `DELETE /portfolio/events/orders` (every resting order at once);
2. a read, `GET /portfolio/orders?status=resting`, to see whether any order still rests. A
   cancel whose answer was lost still counts if the read shows nothing resting; a read that
   fails counts as "unknown", never as success;
3. if anything rests (or nobody can tell), it is said loudly: a console line, the lock file
   (`cancel_all` entry) and a section of BLOCKERS.md, each naming the orders; then the round is
   retried after a backoff (1 s doubling, at most 60 s) up to `max_rounds` times. When a later
   round succeeds, the BLOCKERS.md section is removed and the lock file says so.

Every venue call is bounded by `call_timeout_s`, so a run ends within `worst_case_s()`, derived from
the same schedule. The daemon awaits the run that long (plus a grace) before closing the client
(`finish_cancel_alls`); a run that still has not finished, was cancelled or raised is reported as
"cancel-all not verified" in the same three places, because nobody then knows what still rests.
The venue is anything with `cancel_all_orders()` and `resting_order_ids()` (cancel_all_venues.py).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from src.model.interfaces import OrderVenue
from src.model.models import Clock, utc_from_ts
from src.risk.lockfile import LockWriteError, atomic_write_text, read_lock, write_lock

log = logging.getLogger("polybot.cancel_all")

BLOCKERS_NAME = "BLOCKERS.md"
_MARK = "<!-- cancel-all begin (src/execution/cancel_all.py; removed when no order rests) -->"
_END = "<!-- cancel-all end -->"
FIRST_DELAY_S = 1.0
MAX_DELAY_S = 60.0
MAX_ROUNDS = 8
CALL_TIMEOUT_S = 30.0  # one venue call, its own retries included (Kalshi's default budget is 15 s + 5 s timeout)
CANCEL_SETTLE_S = 1.0  # for a cancelled run to unwind (its calls are cancelled with it)
GRACE_S = 5.0  # on top of the worst case: the lock and BLOCKERS.md writes, the loop's own scheduling
NOT_VERIFIED = "cancel-all not verified: cancel open orders by hand on {venue}"


class CancelAllVenue(Protocol):
    """What one round needs from a venue: its batch cancel and the ids of orders still resting."""

    async def cancel_all_orders(self) -> object: ...

    async def resting_order_ids(self) -> Sequence[str]: ...


@dataclass(frozen=True, slots=True)
class VenueLabel:
    """How the owner is told which venue, and where to cancel by hand."""

    name: str
    orders_page: str


KALSHI = VenueLabel("Kalshi", "https://kalshi.com (Portfolio -> Orders)")


def backoff_delays(max_rounds: int) -> list[float]:
    """The waits between rounds (one fewer than the rounds): 1 s doubling, at most 60 s."""
    delays: list[float] = []
    delay = FIRST_DELAY_S
    for _ in range(max_rounds - 1):
        delays.append(delay)
        delay = min(delay * 2, MAX_DELAY_S)
    return delays


@dataclass(frozen=True, slots=True)
class CancelAllReport:
    """One round: the ids still resting after the cancel (when the read worked) and what went wrong."""

    remaining: tuple[str, ...]
    error: str = ""  # the cancel's or the read's failure, "" when both worked
    verified: bool = True  # False: the read failed, so nobody knows what still rests

    @property
    def ok(self) -> bool:
        return self.verified and not self.remaining


async def cancel_all_and_verify(venue: OrderVenue) -> CancelAllReport:
    """One round on Kalshi: the batch cancel, then the verifying read."""
    from src.execution.cancel_all_venues import KalshiCancelAll

    return await verify_round(KalshiCancelAll(venue))


async def verify_round(venue: CancelAllVenue, call_timeout_s: float | None = None) -> CancelAllReport:
    """One round: the batch cancel, then the verifying read, each bounded by `call_timeout_s`."""
    error = ""
    try:
        async with asyncio.timeout(call_timeout_s):  # in this task: wait_for's inner task can outlive a cancel
            await venue.cancel_all_orders()
    except Exception as exc:  # noqa: BLE001 - the read below decides; the failure is reported with it
        error = f"cancel-all failed: {type(exc).__name__}: {exc}"
    try:
        async with asyncio.timeout(call_timeout_s):
            resting = await venue.resting_order_ids()
    except Exception as exc:  # noqa: BLE001 - unknown is reported as unknown, never as done
        read_error = f"could not read resting orders: {type(exc).__name__}: {exc}"
        return CancelAllReport((), "; ".join(e for e in (error, read_error) if e), verified=False)
    return CancelAllReport(tuple(resting), error)


class CancelAllRunner:
    """Rounds of cancel + verify until no order rests, shouting after every failed round."""

    def __init__(
        self,
        venue: CancelAllVenue,
        root: Path,
        clock: Clock,
        sleep: Callable[[float], Awaitable[None]],
        *,
        max_rounds: int = MAX_ROUNDS,
        out: Callable[[str], None] | None = None,
        label: VenueLabel = KALSHI,
        call_timeout_s: float = CALL_TIMEOUT_S,
        grace_s: float = GRACE_S,
    ) -> None:
        if max_rounds < 1:
            raise ValueError(f"max_rounds must be at least 1, got {max_rounds}")
        if not call_timeout_s > 0 or not grace_s >= 0:
            raise ValueError(f"call_timeout_s must be above 0 and grace_s at least 0, got {call_timeout_s}, {grace_s}")
        self._venue = venue
        self._root = root
        self._clock = clock
        self._sleep = sleep
        self._max_rounds = max_rounds
        self._out = out or _stderr
        self._label = label
        self._call_timeout_s = call_timeout_s
        self.grace_s = grace_s
        self.rounds: list[CancelAllReport] = []

    def worst_case_s(self) -> float:
        """The longest run() can take: every round's two bounded calls plus every wait between rounds."""
        return self._max_rounds * 2 * self._call_timeout_s + sum(backoff_delays(self._max_rounds))

    def start(self) -> CancelAllTask:
        """Schedule run() on the running loop; finish_cancel_alls awaits it before the client closes."""
        return CancelAllTask(self, asyncio.ensure_future(self.run()))

    async def run(self) -> CancelAllReport:
        delays = backoff_delays(self._max_rounds)
        report = CancelAllReport((), "not run", verified=False)
        for round_no in range(1, self._max_rounds + 1):
            report = await verify_round(self._venue, self._call_timeout_s)
            self.rounds.append(report)
            if report.ok:
                if round_no > 1:
                    self._resolved(round_no)
                log.info("cancel-all verified: no order rests on %s (round %d)", self._label.name, round_no)
                return report
            delay = delays[round_no - 1] if round_no <= len(delays) else None
            self._shout(report, round_no, delay)
            if delay is not None:
                await self._sleep(delay)
        return report

    def not_verified(self, why: str) -> None:
        """The run did not end with an answer (timed out, cancelled, raised): say so in all three places."""
        line = f"{NOT_VERIFIED.format(venue=self._label.name)} ({why})"
        log.critical("%s", line)
        self._out(line)
        self._note_in_lock({"ok": False, "round": len(self.rounds), "detail": line, "at": self._at()})
        self._write_blockers(line, len(self.rounds), f"cancel open orders by hand on {self._label.orders_page}")

    # -- reporting ----------------------------------------------------------------------------------

    def _what(self, report: CancelAllReport) -> str:
        if not report.verified:
            return f"it is NOT KNOWN whether orders still rest ({report.error})"
        ids = ", ".join(report.remaining[:20]) + (" ..." if len(report.remaining) > 20 else "")
        extra = f" ({report.error})" if report.error else ""
        return f"{len(report.remaining)} order(s) STILL REST on {self._label.name}: {ids}{extra}"

    def _shout(self, report: CancelAllReport, round_no: int, retry_in: float | None) -> None:
        what = self._what(report)
        then = (f"retrying in {retry_in:g}s" if retry_in is not None
                else f"giving up: CANCEL THEM BY HAND on {self._label.orders_page}")
        line = f"HARD STOP cancel-all, round {round_no}: {what}; {then}"
        log.critical("%s", line)
        self._out(line)
        self._note_in_lock({"ok": False, "round": round_no, "detail": what, "at": self._at()})
        self._write_blockers(what, round_no, then)

    def _resolved(self, round_no: int) -> None:
        line = f"HARD STOP cancel-all: verified on round {round_no}, no order rests on {self._label.name} any more"
        log.warning("%s", line)
        self._out(line)
        self._note_in_lock({"ok": True, "round": round_no, "detail": "no order rests", "at": self._at()})
        self._remove_blockers()

    def _at(self) -> str:
        return utc_from_ts(self._clock()).isoformat()

    def _note_in_lock(self, entry: dict[str, object]) -> None:
        info = read_lock(self._root)
        payload = dict(info.data) if info is not None and info.data is not None else {
            "version": 1, "reason": "cancel_all_failed", "message": f"orders may still rest on {self._label.name}",
            "ts": self._clock(), "at": self._at(), "figures": {"mode": "live"},
        }
        payload["cancel_all"] = entry
        try:
            write_lock(self._root, payload)
        except (LockWriteError, OSError) as exc:
            log.error("could not note the cancel-all result in the lock file: %s", exc)

    def _write_blockers(self, what: str, round_no: int, then: str) -> None:
        section = "\n".join([
            _MARK,
            f"## Orders may still rest on {self._label.name} after a HARD STOP",
            "",
            f"- {self._at()} (round {round_no}): {what}.",
            f"- Next: {then}.",
            f"- Check {self._label.orders_page} and cancel anything resting by hand.",
            _END,
            "",
        ])
        path = self._root / BLOCKERS_NAME
        try:
            others = _without_section(_read(path))
            atomic_write_text(path, section + ("\n" + others if others.strip() else ""))
        except (LockWriteError, OSError) as exc:
            log.error("could not write %s: %s", path, exc)

    def _remove_blockers(self) -> None:
        path = self._root / BLOCKERS_NAME
        try:
            text = _read(path)
            if _MARK not in text:
                return
            others = _without_section(text)
            if others.strip():
                atomic_write_text(path, others)
            else:
                path.unlink()
        except (LockWriteError, OSError) as exc:
            log.error("could not update %s: %s", path, exc)


@dataclass(frozen=True, slots=True)
class CancelAllTask:
    """A scheduled run and the runner that can still report on it."""

    runner: CancelAllRunner
    future: asyncio.Future[CancelAllReport]

    async def settle(self, waited_s: float) -> None:
        """After the wait: anything but a finished run is reported as not verified."""
        if not self.future.done():
            self.runner.not_verified(f"it had not finished after {waited_s:g}s")
            self.future.cancel()
            await asyncio.wait([self.future], timeout=CANCEL_SETTLE_S)  # gone before the client closes
        elif self.future.cancelled():
            self.runner.not_verified("it was cancelled")
        elif (exc := self.future.exception()) is not None:
            self.runner.not_verified(f"it failed: {type(exc).__name__}: {exc}")
        # A finished run that still found orders resting has already said "CANCEL THEM BY HAND".


async def finish_cancel_alls(tasks: Sequence[CancelAllTask], *, wait: Callable[..., Awaitable[Any]] = asyncio.wait
                             ) -> None:
    """Await the HARD STOP cancel-alls for as long as their own schedules can take; call before closing clients."""
    if not tasks:
        return
    waited_s = max(t.runner.worst_case_s() + t.runner.grace_s for t in tasks)
    try:
        await wait([t.future for t in tasks], timeout=waited_s)
    except asyncio.CancelledError:
        for task in tasks:
            if not task.future.done():
                task.future.cancel()
                task.runner.not_verified("the shutdown was interrupted before it finished")
        raise
    for task in tasks:
        await task.settle(waited_s)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""


def _without_section(text: str) -> str:
    if _MARK not in text:
        return text
    before, _, rest = text.partition(_MARK)
    _, _, after = rest.partition(_END)
    return (before + after.lstrip("\n")).strip("\n") + ("\n" if (before + after).strip() else "")


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
