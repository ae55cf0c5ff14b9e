"""The local Kalshi book: snapshot + deltas equals a fresh snapshot; seq gaps and bad deltas break it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from src.data.kalshi_book import BookKeeper, DeltaOutcome
from src.data.kalshi_ws_messages import BookDelta, BookSnapshot, parse
from src.model.models import BookLevel, Side

T = "KXBTC15M-26DEC071045-45"
U = "KXBTC15M-26DEC071100-00"
CENT = Decimal("0.01")

prices = st.integers(1, 99).map(lambda c: Decimal(c) * CENT)
counts = st.integers(0, 50_000).map(lambda h: Decimal(h) / 100)
sides = st.sampled_from(["yes", "no"])
books = st.fixed_dictionaries({"yes": st.dictionaries(prices, counts.filter(bool), max_size=12),
                               "no": st.dictionaries(prices, counts.filter(bool), max_size=12)})


def snapshot(book: dict[str, dict[Decimal, Decimal]], seq: int, sid: int = 1, ticker: str = T) -> BookSnapshot:
    return BookSnapshot(sid, seq, ticker, tuple(sorted(book["yes"].items())), tuple(sorted(book["no"].items())))


def delta(seq: int, side: str, price: str, change: str, sid: int = 1, ticker: str = T) -> BookDelta:
    return BookDelta(sid, seq, ticker, Side(side), Decimal(price), Decimal(change), None)


@settings(max_examples=300, deadline=None)
@given(start=books, ops=st.lists(st.tuples(sides, prices, counts), max_size=60))
def test_snapshot_plus_any_deltas_equals_a_fresh_snapshot(start, ops) -> None:
    """The exchange's book changes level by level; each change goes out as a delta (new - old)."""
    exchange = {"yes": dict(start["yes"]), "no": dict(start["no"])}
    keeper = BookKeeper()
    keeper.on_snapshot(snapshot(exchange, 1), 0.0)
    seq = 1
    for side, price, new in ops:
        old = exchange[side].get(price, Decimal(0))
        if new == old:
            continue
        if new:
            exchange[side][price] = new
        else:
            exchange[side].pop(price, None)
        seq += 1
        change = BookDelta(1, seq, T, Side(side), price, new - old, None)
        assert keeper.on_delta(change, float(seq)) is DeltaOutcome.APPLIED
    fresh = BookKeeper()
    fresh.on_snapshot(snapshot(exchange, seq + 1), 0.0)
    ours, theirs = keeper.book(T), fresh.book(T)
    assert ours is not None and theirs is not None
    assert (ours.yes_bids, ours.no_bids) == (theirs.yes_bids, theirs.no_bids)
    # ascending, best last, and no empty level kept
    for levels in (ours.yes_bids, ours.no_bids):
        assert [lv.price for lv in levels] == sorted(lv.price for lv in levels)
        assert all(lv.count > 0 for lv in levels)


def test_a_gap_breaks_the_book_until_the_next_snapshot() -> None:
    keeper = BookKeeper()
    keeper.on_snapshot(snapshot({"yes": {Decimal("0.40"): Decimal(5)}, "no": {}}, 3), 1.0)
    assert keeper.on_delta(delta(4, "yes", "0.41", "2"), 2.0) is DeltaOutcome.APPLIED
    assert keeper.on_delta(delta(6, "yes", "0.42", "1"), 3.0) is DeltaOutcome.GAP  # 5 was lost
    assert keeper.book(T) is None and not keeper.is_whole(T)
    assert keeper.on_delta(delta(7, "yes", "0.43", "1"), 4.0) is DeltaOutcome.IGNORED
    keeper.on_snapshot(snapshot({"yes": {Decimal("0.40"): Decimal(1)}, "no": {}}, 8), 5.0)
    book = keeper.book(T)
    assert book is not None and book.yes_bids == (BookLevel(Decimal("0.40"), Decimal(1)),)
    assert keeper.on_delta(delta(9, "no", "0.55", "3"), 6.0) is DeltaOutcome.APPLIED
    assert keeper.counters().gaps == 1


@pytest.mark.parametrize("seq", [3, 2])  # a repeat and a step back are as wrong as a jump
def test_a_repeated_or_old_seq_is_a_gap(seq) -> None:
    keeper = BookKeeper()
    keeper.on_snapshot(snapshot({"yes": {}, "no": {}}, 3), 0.0)
    assert keeper.on_delta(delta(seq, "yes", "0.40", "1"), 1.0) is DeltaOutcome.GAP


def test_a_delta_below_zero_means_our_copy_is_wrong() -> None:
    keeper = BookKeeper()
    keeper.on_snapshot(snapshot({"yes": {Decimal("0.40"): Decimal(5)}, "no": {}}, 1), 0.0)
    assert keeper.on_delta(delta(2, "yes", "0.40", "-6"), 1.0) is DeltaOutcome.GAP
    assert keeper.book(T) is None


def test_deltas_before_any_snapshot_are_ignored_and_books_of_other_sids_are_untouched() -> None:
    keeper = BookKeeper()
    assert keeper.on_delta(delta(1, "yes", "0.40", "1"), 0.0) is DeltaOutcome.IGNORED
    keeper.on_snapshot(snapshot({"yes": {}, "no": {}}, 1, sid=1, ticker=T), 0.0)
    keeper.on_snapshot(snapshot({"yes": {}, "no": {}}, 1, sid=2, ticker=U), 0.0)
    assert keeper.on_delta(delta(5, "yes", "0.40", "1", sid=1), 1.0) is DeltaOutcome.GAP
    assert keeper.book(T) is None and keeper.book(U) is not None
    keeper.invalidate_all()
    assert keeper.book(U) is None


def test_versions_move_on_every_change_and_the_book_is_cached_between() -> None:
    keeper = BookKeeper()
    keeper.on_snapshot(snapshot({"yes": {Decimal("0.40"): Decimal(5)}, "no": {}}, 1), 10.0)
    v = keeper.version(T)
    first = keeper.book(T)
    assert keeper.book(T) is first and first is not None and first.fetched_at == 10.0
    keeper.on_delta(delta(2, "no", "0.50", "1"), 11.0)
    assert keeper.version(T) == v + 1 and keeper.book(T) is not first and keeper.changed_at(T) == 11.0


def test_parse_reads_the_spec_examples_exactly() -> None:
    snap = parse(b'{"type":"orderbook_snapshot","sid":2,"seq":2,"msg":{"market_ticker":"FED-23DEC-T3.00",'
                 b'"market_id":"9b0f6b43-5b68-4f9f-9f02-9a2d1b8ac1a1","yes_dollars_fp":[["0.0800","300.00"],'
                 b'["0.2200","333.00"]],"no_dollars_fp":[["0.5400","20.00"],["0.5600","146.00"]]}}')
    assert isinstance(snap, BookSnapshot) and snap.yes[1] == (Decimal("0.2200"), Decimal("333.00"))
    d = parse('{"type":"orderbook_delta","sid":2,"seq":3,"msg":{"market_ticker":"FED-23DEC-T3.00","market_id":"x",'
              '"price_dollars":"0.9600","delta_fp":"-54.00","side":"yes","ts":"2022-11-22T20:44:01Z","ts_ms":1669149841000}}')
    assert isinstance(d, BookDelta) and d.delta == Decimal("-54.00") and d.side is Side.YES and d.seq == 3
    empty = parse('{"type":"orderbook_snapshot","sid":2,"seq":1,"msg":{"market_ticker":"A","market_id":"x"}}')
    assert isinstance(empty, BookSnapshot) and empty.yes == () and empty.no == ()


@pytest.mark.parametrize("raw", [
    '{"type":"orderbook_delta","sid":2,"seq":3,"msg":{"market_ticker":"A","price_dollars":0.96,"delta_fp":"1","side":"yes"}}',
    '{"type":"orderbook_delta","sid":2,"seq":3,"msg":{"market_ticker":"A","price_dollars":"NaN","delta_fp":"1","side":"yes"}}',
    '{"type":"orderbook_delta","sid":2,"seq":3,"msg":{"market_ticker":"A","price_dollars":"0.5","delta_fp":"1","side":"up"}}',
    '{"type":"orderbook_delta","sid":2,"seq":true,"msg":{"market_ticker":"A","price_dollars":"0.5","delta_fp":"1","side":"yes"}}',
    '{"type":"orderbook_snapshot","sid":2,"seq":1,"msg":{"market_ticker":"A","yes_dollars_fp":[["0.5"]]}}',
    '{"type":"cfbenchmarks_value","sid":1,"seq":1,"msg":{"index_id":"BRTI","received_at":1,"data":"[]","avg_60s_data":{}}}',
])
def test_parse_refuses_malformed_fields(raw) -> None:
    with pytest.raises((ValueError, KeyError, TypeError)):
        parse(raw)
