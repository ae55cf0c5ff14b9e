"""The bankroll stages (ARCHITECTURE.md): the bankroll each starts at, the most one bet may risk in it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Stage:
    """A bankroll stage: from `min_bankroll` up, at most `max_bet_usd` and `max_pct` of bankroll per bet."""

    number: int
    min_bankroll: Decimal
    max_bet_usd: Decimal
    max_pct: Decimal


# Sizing enforces these; the dashboard names them. Ascending by min_bankroll, the first from $0.
STAGES: tuple[Stage, ...] = (
    Stage(1, Decimal("0"), Decimal("5.00"), Decimal("0.05")),
    Stage(2, Decimal("100"), Decimal("10.00"), Decimal("0.05")),
    Stage(3, Decimal("250"), Decimal("15.00"), Decimal("0.04")),
)


def stage_of(bankroll: Decimal) -> Stage:
    """The stage a bankroll is in; a bankroll exactly on a boundary belongs to the higher stage.

    A negative bankroll is in stage 1 here; sizing refuses it before asking.
    """
    current = STAGES[0]
    for stage in STAGES:
        if bankroll >= stage.min_bankroll:
            current = stage
    return current


def stage_range(stage: Stage) -> str:
    """'$100–$250' for a stage with a next one, '$250+' for the last."""
    later = [s for s in STAGES if s.min_bankroll > stage.min_bankroll]
    low = f"${stage.min_bankroll:,}"
    return f"{low}–${later[0].min_bankroll:,}" if later else f"{low}+"
