"""The periodic notification jobs of a run, each a loop until cancelled: outage watch, daily/weekly summaries."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from src.db import Database
from src.net.backoff import Sleep
from src.notify.notifier import Notifier
from src.notify.outage import OutageTracker
from src.notify.summary_figures import day_figures, week_figures
from src.notify.summary_schedule import is_weekday, next_daily

log = logging.getLogger("polybot.notify")


@dataclass(frozen=True, slots=True)
class Watched:
    """A dependency and how to read the time of its last good sign (None: never)."""

    name: str
    last_ok_ts: Callable[[], float | None]


def feed_last_tick(snapshot: Callable[[], object], clock: Callable[[], float]) -> Callable[[], float | None]:
    """A feed's last tick time from its snapshot's age (inf while it has never ticked)."""

    def read() -> float | None:
        age = float(getattr(snapshot(), "age_s", math.inf))
        return None if math.isinf(age) else clock() - age

    return read


async def watch_outages(
    watched: Sequence[Watched],
    notifier: Notifier,
    *,
    threshold_s: float,
    clock: Callable[[], float],
    sleep: Sleep,
) -> None:
    """Sample every dependency a few times per threshold; tell once when one goes quiet, once when back."""
    started = clock()
    trackers = [(w, OutageTracker(threshold_s, started)) for w in watched]
    interval = min(15.0, threshold_s / 4)
    while True:
        await sleep(interval)
        now = clock()
        for w, tracker in trackers:
            try:
                change = tracker.sample(now, w.last_ok_ts())
            except Exception as exc:  # noqa: BLE001 - a broken reading must not end the watch
                log.warning("outage watch: cannot read %s (%s)", w.name, type(exc).__name__)
                continue
            if change is None:
                continue
            if change.went_down:
                notifier.outage(w.name, change.down_for_s, change.since_ts)
            else:
                notifier.recovered(w.name, change.down_for_s)


async def send_summaries(
    notifier: Notifier,
    db: Database,
    *,
    mode: str,
    starting_bankroll: Decimal,
    daily_utc: str,
    weekly_day: str,
    clock: Callable[[], float],
    sleep: Sleep,
) -> None:
    """At daily_utc each day: that day's summary; on weekly_day also the week's."""
    while True:
        due = next_daily(clock(), daily_utc)
        while (left := due - clock()) > 0:
            await sleep(left)
        # The day the summary is about: at 21:00 it is today so far; at 00:00 it is yesterday.
        about = due - 60
        day = datetime.fromtimestamp(about, tz=UTC).date()
        try:
            all_time = db.realized_pnl()
            notifier.summary(False, day_figures(db, mode, day, starting_bankroll), all_time)
            if is_weekday(about, weekly_day):
                notifier.summary(True, week_figures(db, mode, day, starting_bankroll), all_time)
        except Exception as exc:  # noqa: BLE001 - a summary that cannot be read is skipped, not fatal
            log.warning("could not build the %s summary (%s)", day.isoformat(), type(exc).__name__)
