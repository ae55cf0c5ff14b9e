"""Find the Polymarket US market, and the side of it, that is the same bet as an international market's outcome.

How the two venues name the same market (docs.polymarket.us "Asset naming conventions"; the
international names from the public Data/Gamma API, e.g. `nfl-lac-ten-2025-11-02-total-44pt5`):
- Both venues name an EVENT alike: `{league}-{team}-{team}-{date}` (`nfl-ne-den-2026-01-25`).
- International: a game's moneyline market has the event's own slug, its outcomes are the
  teams ("Chargers", "Titans"); a three-way (soccer) game has one Yes/No market per result,
  `{event}-{team}` / `{event}-draw`; totals are `{event}-total-47pt5` (Over/Under); spreads
  `{event}-spread-home-4pt5`.
- US: a market slug is `{product}-{event}[-{outcome}]`: `aec-{event}` the moneyline (one
  market: its long side backs one team, its short side the other, as the payload's marketSides
  say: never assumed from home/away), `atc-{event}-{team|draw}` the three-way results,
  `tsc-{event}-47-5` totals, `asc-{event}-pos-4pt5` spreads.
So: moneyline -> `aec-{event}`, three-way -> `atc-{event}-{suffix}`, total -> `tsc-{event}-N-M`,
then (for futures and anything listed under one name on both venues) the very same slug. The
side is read from the US market's own marketSides: the side whose description, team name or
abbreviation IS the whale's outcome; "Yes"/"No" outcomes are the long/short sides. Spreads are
not translated (the venues anchor the line differently: home/away vs pos/neg).

Anything that does not match exactly is a skip with a reason code, never a guess:
  no_us_mapping   a market type not translated (spreads), or no slug on the trade
  no_us_market    no US market under any candidate slug
  no_us_outcome   the US market exists but none (or more than one) of its sides is the outcome
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from src.model.models import Clock, Side
from src.net.poly_http import PolyHttpError
from src.platforms.polymarket_us import UsMarket

NO_US_MAPPING = "no_us_mapping"
NO_US_MARKET = "no_us_market"
NO_US_OUTCOME = "no_us_outcome"
UNMATCHED_CODES = frozenset({NO_US_MAPPING, NO_US_MARKET, NO_US_OUTCOME})

_TOTAL = re.compile(r"total-(\d+)pt(\d+)")
_WORD = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True, slots=True)
class UsTarget:
    """The US market and the side of it to buy (YES = long, NO = short)."""

    slug: str
    side: Side
    label: str  # what the side backs, as the US market names it


@dataclass(frozen=True, slots=True)
class UsUnmatched:
    code: str
    detail: str


def _norm(text: str) -> str:
    return _WORD.sub(" ", text.lower()).strip()


def us_candidates(slug: str, event_slug: str) -> tuple[tuple[str, ...], UsUnmatched | None]:
    """US slugs to try for an international market, in order; or why none is tried."""
    s, e = slug.strip().lower(), event_slug.strip().lower()
    if not s:
        return (), UsUnmatched(NO_US_MAPPING, "the whale's trade names no market slug")
    out: list[str] = []
    if e and s == e:
        out.append(f"aec-{e}")
    elif e and s.startswith(e + "-"):
        suffix = s[len(e) + 1 :]
        if suffix.startswith("spread-"):
            return (), UsUnmatched(NO_US_MAPPING, f"spread market {s}: lines are anchored differently on US")
        total = _TOTAL.fullmatch(suffix)
        if total:
            out.append(f"tsc-{e}-{total[1]}-{total[2]}")
        elif not suffix.startswith("total-"):
            out.append(f"atc-{e}-{suffix}")
    out.append(s)
    return tuple(dict.fromkeys(out)), None


def pick_side(outcome: str, market: UsMarket) -> UsTarget | UsUnmatched:
    """The side of `market` that backs `outcome`, from the market's own marketSides."""
    want = _norm(outcome)
    if not want:
        return UsUnmatched(NO_US_OUTCOME, f"{market.slug}: the whale's trade names no outcome")
    sides = market.sides
    if sides and (sum(1 for s in sides if s.long) != 1 or len(sides) != 2):
        return UsUnmatched(NO_US_OUTCOME, f"{market.slug}: expected one long and one short side")
    hits = [s for s in sides if want in {_norm(s.description), _norm(s.team_name), _norm(s.team_abbreviation)} - {""}]
    if not hits and want in ("over", "under"):
        hits = [s for s in sides if _norm(s.description).split(" ")[:1] == [want]]
    if len(hits) == 1:
        side = hits[0]
        return UsTarget(market.slug, Side.YES if side.long else Side.NO, side.description or side.team_name)
    if not hits and want in ("yes", "no"):
        return UsTarget(market.slug, Side.YES if want == "yes" else Side.NO, outcome)
    names = ", ".join(s.description for s in sides) or "no sides listed"
    return UsUnmatched(NO_US_OUTCOME, f"{market.slug}: outcome {outcome!r} is not one of its sides ({names})")


class UsMarketLookup(Protocol):
    async def get_us_market(self, slug: str) -> UsMarket: ...


class UsMarketMapper:
    """Maps international (slug, event slug, outcome) to a US target; US market look-ups cached `ttl_s`."""

    def __init__(self, lookup: UsMarketLookup, clock: Clock, *, ttl_s: float = 300.0) -> None:
        self._lookup = lookup
        self._clock = clock
        self._ttl_s = ttl_s
        self._cache: dict[str, tuple[float, UsMarket | None]] = {}

    async def _market(self, slug: str) -> UsMarket | None:
        now = self._clock()
        cached = self._cache.get(slug)
        if cached is not None and now - cached[0] < self._ttl_s:
            return cached[1]
        try:
            market: UsMarket | None = await self._lookup.get_us_market(slug)
        except PolyHttpError as exc:
            if exc.status != 404:
                raise  # network trouble is not "unmatched": the caller counts it as a failed fetch
            market = None
        self._cache[slug] = (now, market)
        return market

    async def map(self, slug: str, event_slug: str, outcome: str) -> UsTarget | UsUnmatched:
        candidates, why_not = us_candidates(slug, event_slug)
        if why_not is not None:
            return why_not
        for candidate in candidates:
            market = await self._market(candidate)
            if market is not None:
                return pick_side(outcome, market)
        return UsUnmatched(NO_US_MARKET, f"{slug}: not listed on Polymarket US (tried {', '.join(candidates)})")


__all__ = [
    "NO_US_MAPPING",
    "NO_US_MARKET",
    "NO_US_OUTCOME",
    "UNMATCHED_CODES",
    "UsMarketMapper",
    "UsTarget",
    "UsUnmatched",
    "pick_side",
    "us_candidates",
]
