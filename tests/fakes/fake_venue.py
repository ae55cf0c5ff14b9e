"""An in-memory Kalshi account for the executor and reconciler tests, with a switch for each way an order goes wrong."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from src.model.fees import taker_fee
from src.model.models import Fill, Order, Position, Settlement, Side
from src.platforms.kalshi import KalshiAPIError

D = Decimal


class FakeVenue:
    """An in-memory Kalshi account: FOK/IOC orders fill against `available` contracts at `fill_price`.

    Failure switches: `lose_next_response` (the venue acts, then the answer is lost with the given
    exception), `reject_next` (refused before acting), `lookups_fail`, `fills_hidden`.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.orders: dict[str, Order] = {}  # by client_order_id
        self.fills: list[Fill] = []
        self.settlements: list[Settlement] = []
        self.resting: list[Order] = []
        self.calls: list[str] = []
        self.available: Decimal | None = None
        self.fill_price: Decimal | None = None
        self.lose_next_response: BaseException | None = None
        self.reject_next: Exception | None = None
        self.lookups_fail: Exception | None = None
        self.fills_hidden = False
        self.on_place: Callable[[str], None] | None = None
        self.unreachable: Exception | None = None
        self._n = 0

    def _reach(self) -> None:
        if self.unreachable is not None:
            raise self.unreachable

    def external_fill(self, ticker: str, side: Side, count: str, price: str, order_id: str = "") -> str:
        """A fill the bot did not place (e.g. a manual trade on the same account)."""
        self._n += 1
        oid = order_id or f"ext-{self._n}"
        self.fills.append(Fill(oid, ticker, side, D(count), D(price), taker_fee(D(count), D(price)), self.clock(),
                               fill_id=f"{oid}-f"))
        return oid

    async def place_order(self, ticker: str, side: Side, count: Decimal, price: Decimal, client_order_id: str,
                          time_in_force: str = "fill_or_kill") -> Order:
        self.calls.append("place_order")
        self._reach()
        if self.on_place is not None:
            self.on_place(client_order_id)
        if self.reject_next is not None:
            exc, self.reject_next = self.reject_next, None
            raise exc
        if client_order_id in self.orders:
            raise KalshiAPIError(409, "duplicate_client_order_id", "exists")
        self._n += 1
        oid = f"ord-{self._n}"
        fill_price = self.fill_price if self.fill_price is not None else price
        can = count if self.available is None else min(count, self.available)
        if time_in_force == "fill_or_kill" and can < count:
            can = D(0)
        if self.available is not None:
            self.available -= can
        if can > 0:
            self.fills.append(Fill(oid, ticker, side, can, fill_price, taker_fee(can, fill_price), self.clock(),
                                   fill_id=f"{oid}-f0"))
        order = Order(oid, client_order_id, ticker, side, count, price,
                      status="executed" if can == count else "canceled", filled_count=can,
                      fees=taker_fee(can, fill_price) if can else D(0), created_ts=self.clock())
        self.orders[client_order_id] = order
        if self.lose_next_response is not None:
            exc2, self.lose_next_response = self.lose_next_response, None
            raise exc2
        return order

    async def get_order_by_client_id(self, client_order_id: str) -> Order | None:
        self.calls.append("get_order_by_client_id")
        self._reach()
        if self.lookups_fail is not None:
            raise self.lookups_fail
        return self.orders.get(client_order_id)

    async def cancel_order(self, order_id: str) -> None:
        self.calls.append("cancel_order")

    async def cancel_all_orders(self) -> int:
        self.calls.append("cancel_all_orders")
        n, self.resting = len(self.resting), []
        return n

    async def get_orders(self, status: str | None = None) -> list[Order]:
        self.calls.append("get_orders")
        self._reach()
        if status == "resting":
            return list(self.resting)
        return list(self.orders.values()) + list(self.resting)

    async def get_fills(self, ticker: str | None = None) -> list[Fill]:
        self.calls.append("get_fills")
        self._reach()
        if self.fills_hidden:
            return []
        return [f for f in self.fills if ticker is None or f.ticker == ticker]

    async def get_positions(self) -> list[Position]:
        self.calls.append("get_positions")
        self._reach()
        settled = {s.ticker for s in self.settlements}
        net: dict[str, Decimal] = {}
        for f in self.fills:
            if f.ticker not in settled:
                net[f.ticker] = net.get(f.ticker, D(0)) + (f.count if f.side is Side.YES else -f.count)
        return [Position(t, Side.YES if n > 0 else Side.NO, abs(n), D(0), D(0)) for t, n in net.items() if n != 0]

    async def get_settlements(self) -> list[Settlement]:
        self.calls.append("get_settlements")
        self._reach()
        return list(self.settlements)

    async def get_balance(self) -> Decimal:
        return D("100")

    @property
    def placed(self) -> int:
        return self.calls.count("place_order")
