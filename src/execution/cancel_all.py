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
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

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
    """One round: the batch cancel, then the verifying read."""
    error = ""
    try:
        await venue.cancel_all_orders()
    except Exception as exc:  # noqa: BLE001 - the read below decides; the failure is reported with it
        error = f"cancel-all failed: {type(exc).__name__}: {exc}"
    try:
        resting = await venue.get_orders(status="resting")
    except Exception as exc:  # noqa: BLE001 - unknown is reported as unknown, never as done
        read_error = f"could not read resting orders: {type(exc).__name__}: {exc}"
        return CancelAllReport((), "; ".join(e for e in (error, read_error) if e), verified=False)
    return CancelAllReport(tuple(o.order_id for o in resting), error)


class CancelAllRunner:
    """Rounds of cancel + verify until no order rests, shouting after every failed round."""

    def __init__(
        self,
        venue: OrderVenue,
        root: Path,
        clock: Clock,
        sleep: Callable[[float], Awaitable[None]],
        *,
        max_rounds: int = MAX_ROUNDS,
        out: Callable[[str], None] | None = None,
    ) -> None:
        if max_rounds < 1:
            raise ValueError(f"max_rounds must be at least 1, got {max_rounds}")
        self._venue = venue
        self._root = root
        self._clock = clock
        self._sleep = sleep
        self._max_rounds = max_rounds
        self._out = out or _stderr
        self.rounds: list[CancelAllReport] = []

    async def run(self) -> CancelAllReport:
        delay = FIRST_DELAY_S
        report = CancelAllReport((), "not run", verified=False)
        for round_no in range(1, self._max_rounds + 1):
            report = await cancel_all_and_verify(self._venue)
            self.rounds.append(report)
            if report.ok:
                if round_no > 1:
                    self._resolved(round_no)
                log.info("cancel-all verified: no order rests on Kalshi (round %d)", round_no)
                return report
            last = round_no == self._max_rounds
            self._shout(report, round_no, None if last else delay)
            if not last:
                await self._sleep(delay)
                delay = min(delay * 2, MAX_DELAY_S)
        return report

    # -- reporting ----------------------------------------------------------------------------------

    def _what(self, report: CancelAllReport) -> str:
        if not report.verified:
            return f"it is NOT KNOWN whether orders still rest ({report.error})"
        ids = ", ".join(report.remaining[:20]) + (" ..." if len(report.remaining) > 20 else "")
        extra = f" ({report.error})" if report.error else ""
        return f"{len(report.remaining)} order(s) STILL REST on Kalshi: {ids}{extra}"

    def _shout(self, report: CancelAllReport, round_no: int, retry_in: float | None) -> None:
        what = self._what(report)
        then = (f"retrying in {retry_in:g}s" if retry_in is not None
                else "giving up: CANCEL THEM BY HAND on kalshi.com (Portfolio -> Orders)")
        line = f"HARD STOP cancel-all, round {round_no}: {what}; {then}"
        log.critical("%s", line)
        self._out(line)
        self._note_in_lock({"ok": False, "round": round_no, "detail": what, "at": self._at()})
        self._write_blockers(what, round_no, then)

    def _resolved(self, round_no: int) -> None:
        line = f"HARD STOP cancel-all: verified on round {round_no}, no order rests on Kalshi any more"
        log.warning("%s", line)
        self._out(line)
        self._note_in_lock({"ok": True, "round": round_no, "detail": "no order rests", "at": self._at()})
        self._remove_blockers()

    def _at(self) -> str:
        return utc_from_ts(self._clock()).isoformat()

    def _note_in_lock(self, entry: dict[str, object]) -> None:
        info = read_lock(self._root)
        payload = dict(info.data) if info is not None and info.data is not None else {
            "version": 1, "reason": "cancel_all_failed", "message": "orders may still rest on Kalshi",
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
            "## Orders may still rest on Kalshi after a HARD STOP",
            "",
            f"- {self._at()} (round {round_no}): {what}.",
            f"- Next: {then}.",
            "- Check https://kalshi.com (Portfolio -> Orders) and cancel anything resting by hand.",
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
