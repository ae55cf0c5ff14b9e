"""International whale trade -> the same market and side on Polymarket US, on recorded payload shapes."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from src.data.whale_tracker import parse_trades
from src.model.models import Side
from src.net.poly_http import PolyHttpError
from src.platforms.polymarket_us import UsMarket, market_from_payload
from src.platforms.polymarket_us_map import (
    NO_US_MAPPING,
    NO_US_MARKET,
    NO_US_OUTCOME,
    UsMarketMapper,
    UsTarget,
    UsUnmatched,
    pick_side,
    us_candidates,
)

FIXTURES = json.loads((Path(__file__).parent / "data" / "polymarket_us_fixtures.json").read_text())
US = FIXTURES["us_markets"]
ROWS = [{**row, "transactionHash": "0x" + f"{i:064x}", "conditionId": "0x" + f"{i + 100:064x}"}
        for i, row in enumerate(FIXTURES["international_trades"], 1)]
TRADES = {t.slug + "|" + t.outcome: t for t in parse_trades(ROWS)}


def us(slug: str) -> UsMarket:
    return market_from_payload({"market": US[slug]})


class Lookup:
    def __init__(self, markets: dict[str, dict], fail: set[str] = frozenset()) -> None:
        self.markets = markets
        self.fail = fail
        self.asked: list[str] = []

    async def get_us_market(self, slug: str) -> UsMarket:
        self.asked.append(slug)
        if slug in self.fail:
            raise PolyHttpError("polymarket-us", 503, "down")
        if slug not in self.markets:
            raise PolyHttpError("polymarket-us", 404, "market not found")
        return market_from_payload({"market": self.markets[slug]})


def test_recorded_trades_carry_the_event_slug() -> None:
    trade = TRADES["nfl-lac-ten-2025-11-02|Chargers"]
    assert trade.event_slug == "nfl-lac-ten-2025-11-02" and trade.outcome == "Chargers"


@pytest.mark.parametrize(("slug", "event", "want"), [
    ("nfl-lac-ten-2025-11-02", "nfl-lac-ten-2025-11-02", ("aec-nfl-lac-ten-2025-11-02", "nfl-lac-ten-2025-11-02")),
    ("ucl-fen-lyo-2026-08-18-fen", "ucl-fen-lyo-2026-08-18",
     ("atc-ucl-fen-lyo-2026-08-18-fen", "ucl-fen-lyo-2026-08-18-fen")),
    ("ucl-fen-lyo-2026-08-18-draw", "ucl-fen-lyo-2026-08-18",
     ("atc-ucl-fen-lyo-2026-08-18-draw", "ucl-fen-lyo-2026-08-18-draw")),
    ("nfl-lac-ten-2025-11-02-total-44pt5", "nfl-lac-ten-2025-11-02",
     ("tsc-nfl-lac-ten-2025-11-02-44-5", "nfl-lac-ten-2025-11-02-total-44pt5")),
    ("btc-hit-2026-12-31", "", ("btc-hit-2026-12-31",)),
])  # fmt: skip
def test_candidate_slugs_follow_both_naming_conventions(slug, event, want) -> None:
    assert us_candidates(slug, event) == (want, None)


def test_spreads_and_slugless_trades_are_not_translated() -> None:
    cands, why = us_candidates("nfl-lac-ten-2025-11-02-spread-home-2pt5", "nfl-lac-ten-2025-11-02")
    assert cands == () and why is not None and why.code == NO_US_MAPPING
    assert us_candidates("", "x")[1].code == NO_US_MAPPING


def test_the_side_comes_from_the_payload_not_from_home_or_away() -> None:
    nfl = us("aec-nfl-lac-ten-2025-11-02")  # Chargers (away) are the long side
    assert pick_side("Chargers", nfl) == UsTarget(nfl.slug, Side.YES, "Chargers")
    assert pick_side("Titans", nfl) == UsTarget(nfl.slug, Side.NO, "Titans")
    assert pick_side("Tennessee Titans", nfl).side is Side.NO  # the team's full name
    assert pick_side("ten", nfl).side is Side.NO  # its abbreviation
    ufc = us("aec-ufc-kennze-marbuc-2025-12-13")  # here the HOME fighter is long
    assert pick_side("Kennedy Nzechukwu", ufc).side is Side.YES
    assert pick_side("Marcus Buchecha", ufc).side is Side.NO
    flipped = copy.deepcopy(US["aec-nfl-lac-ten-2025-11-02"])
    flipped["marketSides"][0]["long"], flipped["marketSides"][1]["long"] = False, True
    assert pick_side("Chargers", market_from_payload({"market": flipped})).side is Side.NO


@pytest.mark.parametrize("mutate", [
    lambda m: m["marketSides"].pop(),                               # one side only
    lambda m: m["marketSides"][1].update(long=True),                # two long sides
    lambda m: m["marketSides"][1].update(description="Chargers",
                                         team={"name": "Los Angeles Chargers", "abbreviation": "lac"}),
])  # fmt: skip
def test_ambiguous_or_odd_markets_are_unmatched(mutate) -> None:
    raw = copy.deepcopy(US["aec-nfl-lac-ten-2025-11-02"])
    mutate(raw)
    result = pick_side("Chargers", market_from_payload({"market": raw}))
    assert isinstance(result, UsUnmatched) and result.code == NO_US_OUTCOME


def test_an_outcome_that_is_not_a_side_is_unmatched() -> None:
    result = pick_side("Raiders", us("aec-nfl-lac-ten-2025-11-02"))
    assert isinstance(result, UsUnmatched) and result.code == NO_US_OUTCOME and "Chargers" in result.detail


async def test_the_mapper_tries_candidates_in_order_and_caches(clock) -> None:
    lookup = Lookup(US)
    mapper = UsMarketMapper(lookup, clock, ttl_s=60)
    chargers = TRADES["nfl-lac-ten-2025-11-02|Chargers"]
    titans = TRADES["nfl-lac-ten-2025-11-02|Titans"]
    assert await mapper.map(chargers.slug, chargers.event_slug, chargers.outcome) == \
        UsTarget("aec-nfl-lac-ten-2025-11-02", Side.YES, "Chargers")
    assert (await mapper.map(titans.slug, titans.event_slug, titans.outcome)).side is Side.NO
    assert lookup.asked == ["aec-nfl-lac-ten-2025-11-02"]  # cached
    clock.advance(61)
    await mapper.map(titans.slug, titans.event_slug, titans.outcome)
    assert lookup.asked.count("aec-nfl-lac-ten-2025-11-02") == 2


async def test_every_recorded_international_market_type_gets_a_definite_answer(clock) -> None:
    mapper = UsMarketMapper(Lookup(US), clock)
    answers = {}
    for key, trade in TRADES.items():
        answers[key] = await mapper.map(trade.slug, trade.event_slug, trade.outcome)
    codes = {k: (a.code if isinstance(a, UsUnmatched) else (a.slug, a.side)) for k, a in answers.items()}
    assert codes == {
        "nfl-lac-ten-2025-11-02|Chargers": ("aec-nfl-lac-ten-2025-11-02", Side.YES),
        "nfl-lac-ten-2025-11-02|Titans": ("aec-nfl-lac-ten-2025-11-02", Side.NO),
        "nfl-lac-ten-2025-11-02-total-44pt5|Over": NO_US_MARKET,  # no total recorded on the US side
        "nfl-lac-ten-2025-11-02-spread-home-2pt5|Titans": NO_US_MAPPING,
        "ucl-fen-lyo-2026-08-18-fen|Yes": NO_US_MARKET,
        "fed-decreases-interest-rates-by-50-bps-after-december-2025-meeting|No": NO_US_MARKET,
    }


async def test_yes_no_markets_and_totals_map_by_their_sides(clock) -> None:
    three_way = {"slug": "atc-ucl-fen-lyo-2026-08-18-fen", "question": "Fenerbahce", "active": True, "closed": False,
                 "marketSides": []}
    total = {"slug": "tsc-nfl-lac-ten-2025-11-02-44-5", "question": "O/U 44.5", "active": True, "closed": False,
             "marketSides": [{"description": "Over 44.5", "long": True}, {"description": "Under 44.5", "long": False}]}
    mapper = UsMarketMapper(Lookup({three_way["slug"]: three_way, total["slug"]: total}), clock)
    yes = TRADES["ucl-fen-lyo-2026-08-18-fen|Yes"]
    over = TRADES["nfl-lac-ten-2025-11-02-total-44pt5|Over"]
    assert await mapper.map(yes.slug, yes.event_slug, "Yes") == UsTarget(three_way["slug"], Side.YES, "Yes")
    assert await mapper.map(yes.slug, yes.event_slug, "No") == UsTarget(three_way["slug"], Side.NO, "No")
    assert (await mapper.map(over.slug, over.event_slug, "Under")).side is Side.NO
    assert (await mapper.map(over.slug, over.event_slug, "Over")).side is Side.YES


async def test_a_network_failure_is_not_called_unmatched(clock) -> None:
    mapper = UsMarketMapper(Lookup(US, fail={"aec-nfl-lac-ten-2025-11-02"}), clock)
    trade = TRADES["nfl-lac-ten-2025-11-02|Chargers"]
    with pytest.raises(PolyHttpError):
        await mapper.map(trade.slug, trade.event_slug, trade.outcome)
