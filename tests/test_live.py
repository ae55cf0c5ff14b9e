"""Live execution: the kill switch gate, intent-before-request, ambiguous outcomes, restarts (guards: test_security)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from src.db import Database
from src.execution.live import (
    LiveExecutor,
    is_definite_rejection,
)
from src.execution.order_rules import InvalidOrderError
from src.execution.reconcile import Reconciler
from src.journal.log_setup import redact
from src.journal.trade_log import TradeLog
from src.model.interfaces import OrderRefused
from src.model.models import Order, OrderIntent, Side, Verdict, new_client_order_id
from src.platforms.kalshi import (
    KalshiAPIError,
    KalshiOrderUncertain,
    KalshiRequestError,
    KalshiTransportError,
)
from tests.fakes.fake_venue import FakeVenue
from tests.fakes.order_doubles import Gate, order_intent

D = Decimal
TICKER = "KXBTC15M-26MAY281500-00"
REPO = Path(__file__).resolve().parent.parent


def intent(count: str = "5", limit: str = "0.55", side: Side = Side.YES, cid: str | None = None) -> OrderIntent:
    return order_intent(TICKER, count, limit, side, cid)


@pytest.fixture
def venue(clock: Any) -> FakeVenue:
    return FakeVenue(clock)


def make(venue: FakeVenue, db: Database, tlog: TradeLog, clock: Any, gate: Gate | None = None,
         **kw: Any) -> LiveExecutor:
    return LiveExecutor(venue, db, tlog, clock, gate or Gate(), **kw)


def events(tlog: TradeLog) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    for path in sorted(tlog.directory.glob("*.jsonl")):
        lines.extend(json.loads(line) for line in path.read_text().splitlines())
    return lines


# -- the gate and the order of writes --------------------------------------------------------------


async def test_kill_switch_refusal_sends_and_records_nothing(
    venue: FakeVenue, db: Database, tlog: TradeLog, clock: Any
) -> None:
    ex = make(venue, db, tlog, clock, Gate(Verdict(False, "hard_stopped", "lock file present")))
    i = intent()
    with pytest.raises(OrderRefused, match="hard_stopped"):
        await ex.execute(i)
    assert venue.calls == [] and db.order_by_client_id(i.client_order_id) is None
    assert [e["event"] for e in events(tlog)] == ["order_refused"]


async def test_intent_is_written_pending_before_the_request(
    venue: FakeVenue, db: Database, tlog: TradeLog, clock: Any
) -> None:
    seen: list[tuple[str, str]] = []

    def inspect(cid: str) -> None:
        row = db.order_by_client_id(cid)
        assert row is not None
        seen.append((row.status, str(row.count)))

    venue.on_place = inspect
    ex = make(venue, db, tlog, clock)
    await ex.execute(intent("5"))
    assert seen == [("pending", "5")]


async def test_executed_order_is_recorded_with_the_venues_fills(
    venue: FakeVenue, db: Database, tlog: TradeLog, clock: Any
) -> None:
    venue.fill_price = D("0.53")
    submitted: list[OrderIntent] = []
    ex = make(venue, db, tlog, clock, on_order_submitted=submitted.append)
    i = intent("5", "0.55")
    order = await ex.execute(i)
    assert order.status == "executed" and order.filled_count == D("5")
    assert [(f.price, f.count, f.fee) for f in order.fills] == [(D("0.53"), D("5"), D("0.09"))]
    row = db.order_by_client_id(i.client_order_id)
    assert row is not None and row.status == "executed" and row.venue_order_id == order.order_id
    (trade,) = db.open_trades()
    assert (trade.count, trade.cost, trade.fees, trade.avg_price) == (D("5"), D("2.65"), D("0.09"), D("0.53"))
    assert submitted == [i]
    assert [e["event"] for e in events(tlog)] == ["order_submitted", "fill", "order_result"]


async def test_fok_that_did_not_fill_is_canceled_without_a_trade(
    venue: FakeVenue, db: Database, tlog: TradeLog, clock: Any
) -> None:
    venue.available = D("2")
    ex = make(venue, db, tlog, clock)
    order = await ex.execute(intent("5"))
    assert order.status == "canceled" and order.filled_count == 0
    assert db.open_trades() == [] and "get_fills" not in venue.calls


async def test_definite_rejection_marks_failed_and_reraises(
    venue: FakeVenue, db: Database, tlog: TradeLog, clock: Any
) -> None:
    venue.reject_next = KalshiAPIError(400, "insufficient_balance", "not enough money")
    ex = make(venue, db, tlog, clock)
    i = intent()
    with pytest.raises(KalshiAPIError, match="insufficient_balance"):
        await ex.execute(i)
    row = db.order_by_client_id(i.client_order_id)
    assert row is not None and row.status == "failed" and "insufficient_balance" in (row.error or "")
    await ex.execute(intent())  # a failed order does not block the next one
    assert venue.placed == 2


@pytest.mark.parametrize(("exc", "definite"), [
    (KalshiAPIError(400, "bad", "x"), True),
    (KalshiAPIError(403, "forbidden", "x"), True),
    (KalshiAPIError(429, "too_many", "x"), True),
    (KalshiRequestError("bad price"), True),
    (KalshiAPIError(408, "timeout", "x"), False),
    (KalshiAPIError(409, "duplicate", "x"), False),
    (KalshiAPIError(503, "unavailable", "x"), False),
    (KalshiTransportError(0, "timeout", "no answer"), False),
    (KalshiOrderUncertain("pbx", KalshiAPIError(400, "x", "y")), False),
    (TimeoutError(), False),
    (RuntimeError("anything else"), False),
])
def test_which_errors_are_definite(exc: Exception, definite: bool) -> None:
    assert is_definite_rejection(exc) is definite


# -- ambiguous outcomes ----------------------------------------------------------------------------


async def test_ambiguous_outcome_stays_pending_and_is_adopted_by_lookup(
    venue: FakeVenue, db: Database, tlog: TradeLog, clock: Any
) -> None:
    venue.lose_next_response = KalshiOrderUncertain("x", KalshiTransportError(0, "timeout", "no answer"))
    ex = make(venue, db, tlog, clock)
    first = intent("5")
    order = await ex.execute(first)
    assert order.status == "pending"
    row = db.order_by_client_id(first.client_order_id)
    assert row is not None and row.status == "pending"  # never assumed failed
    assert db.open_trades() == []
    assert "order_uncertain" in [e["event"] for e in events(tlog)]
    second = intent("3")
    gate = Gate()
    ex = make(venue, db, tlog, clock, gate)
    await ex.execute(second)  # first resolves itself by look-up before anything new is sent
    assert gate.seen == [second, second]  # asked again after the look-up booked a trade
    row = db.order_by_client_id(first.client_order_id)
    assert row is not None and row.status == "executed" and row.filled_count == D("5")
    assert sorted(t.count for t in db.open_trades()) == [D("3"), D("5")]
    assert venue.placed == 2 and len(venue.orders) == 2


async def test_kill_switch_is_asked_again_after_lookups_booked_trades(
    venue: FakeVenue, db: Database, tlog: TradeLog, clock: Any
) -> None:
    venue.lose_next_response = TimeoutError()
    await make(venue, db, tlog, clock).execute(intent("5"))
    answers = iter([Verdict(True), Verdict(False, "rate_limited", "16 orders this hour")])
    ex = make(venue, db, tlog, clock, lambda i: next(answers))  # type: ignore[arg-type]
    with pytest.raises(OrderRefused, match="rate_limited"):
        await ex.execute(intent("1"))
    assert venue.placed == 1 and len(db.open_trades()) == 1


async def test_no_new_order_while_an_old_outcome_cannot_be_resolved(
    venue: FakeVenue, db: Database, tlog: TradeLog, clock: Any
) -> None:
    venue.lose_next_response = TimeoutError()
    ex = make(venue, db, tlog, clock)
    assert (await ex.execute(intent())).status == "pending"
    venue.lookups_fail = KalshiTransportError(0, "connection_error", "dropped")
    with pytest.raises(OrderRefused, match="unresolved_orders"):
        await ex.execute(intent())
    assert venue.placed == 1
    venue.lookups_fail = None
    await ex.execute(intent())
    assert venue.placed == 2


async def test_order_that_never_reached_the_venue_fails_only_after_the_grace(
    venue: FakeVenue, db: Database, tlog: TradeLog, clock: Any
) -> None:
    venue.reject_next = TimeoutError()  # nothing created, but we cannot know that
    ex = make(venue, db, tlog, clock, not_found_grace_s=30)
    lost = intent()
    assert (await ex.execute(lost)).status == "pending"
    clock.advance(10)
    with pytest.raises(OrderRefused, match="unresolved_orders"):
        await ex.execute(intent())
    clock.advance(25)
    await ex.execute(intent())
    row = db.order_by_client_id(lost.client_order_id)
    assert row is not None and row.status == "failed" and "not found" in (row.error or "")
    assert venue.placed == 2


async def test_fills_not_yet_visible_keep_the_order_pending(
    venue: FakeVenue, db: Database, tlog: TradeLog, clock: Any
) -> None:
    venue.fills_hidden = True
    ex = make(venue, db, tlog, clock)
    i = intent()
    order = await ex.execute(i)
    assert order.status == "pending" and order.order_id
    row = db.order_by_client_id(i.client_order_id)
    assert row is not None and row.status == "pending" and row.venue_order_id == order.order_id
    venue.fills_hidden = False
    assert await ex.resolve_pending() == []
    (trade,) = db.open_trades()
    assert trade.count == D("5")


async def test_cancel_all_cancels_at_the_venue(venue: FakeVenue, db: Database, tlog: TradeLog, clock: Any) -> None:
    venue.resting = [Order("r1", "", TICKER, Side.YES, D("1"), D("0.5"), "resting", remaining_count=D("1"))]
    ex = make(venue, db, tlog, clock)
    assert await ex.cancel_all() == 0  # none still rests after the verifying read
    assert venue.calls == ["cancel_all_orders", "get_orders"]
    (line,) = [e for e in events(tlog) if e["event"] == "cancel_all"]
    assert line["remaining"] == 0


async def test_reused_client_order_id_never_sends_twice(
    venue: FakeVenue, db: Database, tlog: TradeLog, clock: Any
) -> None:
    ex = make(venue, db, tlog, clock)
    i = intent()
    await ex.execute(i)
    with pytest.raises(InvalidOrderError, match="already used"):
        await ex.execute(i)
    assert venue.placed == 1


# -- crash and restart ------------------------------------------------------------------------------


class Crash(BaseException):
    """The process dies mid-request (not an Exception: nothing may catch and carry on)."""


async def test_crash_between_intent_and_response_then_restart_sends_no_second_order(
    tmp_path: Path, venue: FakeVenue, tlog: TradeLog, clock: Any
) -> None:
    path = tmp_path / "crash.db"
    db1 = Database(path)
    venue.lose_next_response = Crash()
    first = intent("5")
    with pytest.raises(Crash):
        await make(venue, db1, tlog, clock).execute(first)
    db1.close()

    clock.advance(3)
    db2 = Database(path)  # restart: a new process on the same file
    try:
        row = db2.order_by_client_id(first.client_order_id)
        assert row is not None and row.status == "pending"
        reconciler = Reconciler(venue, db2, tlog, clock)
        report = await reconciler.run()
        assert report.reconciled and reconciler.reconciled, report
        row = db2.order_by_client_id(first.client_order_id)
        assert row is not None and row.status == "executed"
        assert [t.count for t in db2.open_trades()] == [D("5")]
        assert venue.placed == 1 and len(venue.orders) == 1
        ex2 = make(venue, db2, tlog, clock)
        with pytest.raises(InvalidOrderError):
            await ex2.execute(first)  # replaying the same intent can never send it again
        assert venue.placed == 1
    finally:
        db2.close()


# -- ids and module boundaries ------------------------------------------------------------------------


def test_client_order_ids_survive_the_log_redactor() -> None:
    cid = new_client_order_id()
    assert cid.startswith("pb") and len(cid) == 34 and "-" not in cid
    assert redact(f"order {cid} placed") == f"order {cid} placed"
    assert new_client_order_id() != cid


def test_fake_venue_matches_the_protocol_shape() -> None:
    from src.model.interfaces import OrderVenue

    wanted = {n for n in vars(OrderVenue) if not n.startswith("_")}
    assert wanted <= set(dir(FakeVenue))


# -- end to end against the fake Kalshi server (real KalshiClient, local TLS) ---------------------------

ORDERS_PATH = "/portfolio/events/orders"


def fast_client(server: Any, attempts: int = 3) -> Any:
    from src.net.backoff import RetryPolicy

    return server.client(retry_policy=RetryPolicy(max_attempts=attempts, base_delay_s=0.01, max_delay_s=0.05,
                                                   budget_s=30))


def posts(server: Any) -> int:
    return len(server.fake.requests_to(ORDERS_PATH, "POST"))


class CrashAfterSend:
    """Wraps a real client: the order request goes out, then the process 'dies' before the answer is recorded."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def place_order(self, *args: Any, **kwargs: Any) -> Order:
        await self._client.place_order(*args, **kwargs)
        raise Crash()


async def test_live_order_through_the_real_client_walks_the_book_and_reconciles(
    server: Any, market: str, db: Database, tlog: TradeLog, clock: Any
) -> None:
    async with fast_client(server) as client:
        ex = LiveExecutor(client, db, tlog, clock, Gate())
        i = OrderIntent(market, Side.YES, D("5"), D("0.50"), new_client_order_id())
        order = await ex.execute(i)
        assert order.status == "executed" and order.filled_count == D("5")
        assert sorted((f.price, f.count, f.fee) for f in order.fills) == [
            (D("0.45"), D("3"), D("0.06")), (D("0.50"), D("2"), D("0.04"))]
        (trade,) = db.open_trades()
        assert (trade.cost, trade.fees) == (D("2.35"), D("0.10"))
        fake_fills = [f for f in server.fake.fills if f.client_order_id == i.client_order_id]
        assert sum(f.fee for f in fake_fills) == trade.fees  # the venue's fees, fill by fill
        report = await Reconciler(client, db, tlog, clock).run()
        assert report.reconciled, report
        assert posts(server) == 1


async def test_crash_after_send_then_restart_adopts_the_order_and_sends_no_second(
    tmp_path: Path, server: Any, market: str, tlog: TradeLog, clock: Any
) -> None:
    path = tmp_path / "live.db"
    first = OrderIntent(market, Side.YES, D("3"), D("0.45"), new_client_order_id())
    db1 = Database(path)
    async with fast_client(server) as client1:
        with pytest.raises(Crash):
            await LiveExecutor(CrashAfterSend(client1), db1, tlog, clock, Gate()).execute(first)
    db1.close()
    assert posts(server) == 1 and len(server.fake.orders_with_client_id(first.client_order_id)) == 1

    clock.advance(5)
    db2 = Database(path)  # the restarted process: new database handle, new client session
    try:
        row = db2.order_by_client_id(first.client_order_id)
        assert row is not None and row.status == "pending"
        async with fast_client(server) as client2:
            reconciler = Reconciler(client2, db2, tlog, clock)
            report = await reconciler.run()
            assert report.reconciled and reconciler.reconciled, report
            row = db2.order_by_client_id(first.client_order_id)
            assert row is not None and row.status == "executed" and row.filled_count == D("3")
            (trade,) = db2.open_trades()
            assert trade.cost == D("1.35") and trade.fees == D("0.06")
            ex2 = LiveExecutor(client2, db2, tlog, clock, Gate())
            with pytest.raises(InvalidOrderError):
                await ex2.execute(first)
            assert posts(server) == 1  # no second order for the same intent
            await ex2.execute(OrderIntent(market, Side.YES, D("1"), D("0.50"), new_client_order_id()))
            assert posts(server) == 2
    finally:
        db2.close()


async def test_crash_before_send_fails_the_intent_only_after_the_grace(
    tmp_path: Path, server: Any, market: str, tlog: TradeLog, clock: Any
) -> None:
    path = tmp_path / "live.db"
    db1 = Database(path)
    lost = OrderIntent(market, Side.YES, D("3"), D("0.45"), new_client_order_id())
    db1.insert_order_intent(lost, clock(), status="pending")  # written, then the process died
    db1.close()
    db2 = Database(path)
    try:
        async with fast_client(server) as client:
            reconciler = Reconciler(client, db2, tlog, clock, not_found_grace_s=30)
            report = await reconciler.run()
            assert not report.reconciled and [d.code for d in report.discrepancies] == ["pending_unresolved"]
            ex = LiveExecutor(client, db2, tlog, clock, Gate(), not_found_grace_s=30)
            with pytest.raises(OrderRefused, match="unresolved_orders"):
                await ex.execute(OrderIntent(market, Side.YES, D("1"), D("0.50"), new_client_order_id()))
            clock.advance(31)
            assert (await reconciler.run()).reconciled
            row = db2.order_by_client_id(lost.client_order_id)
            assert row is not None and row.status == "failed"
            assert posts(server) == 0
    finally:
        db2.close()


async def test_ambiguous_5xx_stays_pending_then_resolves_by_lookup(
    server: Any, market: str, db: Database, tlog: TradeLog, clock: Any
) -> None:
    # Every try answers 503 AFTER the exchange acted on the first one, and every look-up fails too:
    # the client cannot tell, so the executor must keep the order pending.
    server.fake.fail_next(503, times=3, method="POST", path=ORDERS_PATH, after_processing=True)
    server.fake.fail_next(503, times=3, method="GET", path="/portfolio/orders")
    async with fast_client(server, attempts=3) as client:
        ex = LiveExecutor(client, db, tlog, clock, Gate())
        i = OrderIntent(market, Side.YES, D("3"), D("0.45"), new_client_order_id())
        order = await ex.execute(i)
        assert order.status == "pending"
        row = db.order_by_client_id(i.client_order_id)
        assert row is not None and row.status == "pending"
        assert len(server.fake.orders_with_client_id(i.client_order_id)) == 1  # it did go through
        assert posts(server) == 1  # never re-sent after the ambiguous answer
        first = await Reconciler(client, db, tlog, clock).run()  # the look-ups fail: still unknown
        assert not first.reconciled and [d.code for d in first.discrepancies][0] == "pending_unresolved"
        report = await Reconciler(client, db, tlog, clock).run()
        assert report.reconciled, report
        row = db.order_by_client_id(i.client_order_id)
        assert row is not None and row.status == "executed" and row.filled_count == D("3")
        assert len(server.fake.orders_with_client_id(i.client_order_id)) == 1


# -- fills told to the owner once, whichever path found them (src/notify: the daemon wires on_filled) -----


def fill_teller() -> tuple[Any, list[str]]:
    """A notifier (every kind on) and the titles it queued; its order_filled is what the daemon passes."""
    from src.notify.events import Kind
    from src.notify.notifier import Notifier

    titles: list[str] = []
    notifier = Notifier({k.value: "info" for k in Kind}, "info", lambda n: titles.append(n.title), lambda: 0.0)
    return notifier, titles


@pytest.mark.parametrize("found_by", ["resolve_pending", "reconciler"])
async def test_an_ambiguous_order_filled_later_is_told_exactly_once(
    server: Any, market: str, db: Database, tlog: TradeLog, clock: Any, found_by: str
) -> None:
    # The exchange acts on the order, then every try answers 503: execute cannot know, returns "pending".
    server.fake.fail_next(503, times=3, method="POST", path=ORDERS_PATH, after_processing=True)
    notifier, titles = fill_teller()
    async with fast_client(server, attempts=3) as client:
        ex = LiveExecutor(client, db, tlog, clock, Gate(), on_filled=notifier.order_filled)
        reconciler = Reconciler(client, db, tlog, clock, on_filled=notifier.order_filled)
        i = OrderIntent(market, Side.YES, D("3"), D("0.45"), new_client_order_id())
        assert (await ex.execute(i)).status == "pending"
        assert titles == []  # nothing is known yet: nothing told
        if found_by == "resolve_pending":
            assert await ex.resolve_pending() == []
        else:
            assert (await reconciler.run()).reconciled
        assert titles == [f"Filled: 3 YES {market} [Kalshi]"]
        # The other path, and both again, find the order already recorded: nothing told twice.
        assert await ex.resolve_pending() == []
        assert (await reconciler.run()).reconciled
        assert titles == [f"Filled: 3 YES {market} [Kalshi]"]
        assert posts(server) == 1


async def test_an_order_filled_at_once_is_told_exactly_once(
    server: Any, market: str, db: Database, tlog: TradeLog, clock: Any
) -> None:
    notifier, titles = fill_teller()
    async with fast_client(server) as client:
        ex = LiveExecutor(client, db, tlog, clock, Gate(), on_filled=notifier.order_filled)
        order = await ex.execute(OrderIntent(market, Side.YES, D("5"), D("0.50"), new_client_order_id()))
        assert order.status == "executed"
        assert (await Reconciler(client, db, tlog, clock, on_filled=notifier.order_filled).run()).reconciled
        assert await ex.resolve_pending() == []
    assert titles == [f"Filled: 5 YES {market} [Kalshi]"]


async def test_a_failing_fill_listener_does_not_undo_the_recorded_order(
    venue: FakeVenue, db: Database, tlog: TradeLog, clock: Any
) -> None:
    def broken(order: Order) -> None:
        raise RuntimeError("listener down")

    i = intent()
    order = await make(venue, db, tlog, clock, on_filled=broken).execute(i)
    row = db.order_by_client_id(i.client_order_id)
    assert order.status == "executed" and row is not None and row.status == "executed"
