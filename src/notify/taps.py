"""Pass-through wrappers around the paper executor and the settlers that tell the notifier."""

from __future__ import annotations

from typing import Any

from src.model.interfaces import Executor, Settler, SettleReport
from src.model.models import Order, OrderIntent
from src.notify.notifier import Notifier


class NotifyingExecutor:
    """Same behaviour as the wrapped executor; a fill is also queued for the owner after it is recorded.

    Only for an executor whose every outcome is final when execute returns (paper). A live
    executor's outcome may be known only later: it tells fills through its own `on_filled`,
    wired by the daemon, and must not be wrapped here too (the fill would be told twice).
    """

    def __init__(self, inner: Executor, notifier: Notifier) -> None:
        self._inner = inner
        self._notifier = notifier

    async def execute(self, intent: OrderIntent) -> Order:
        order = await self._inner.execute(intent)
        self._notifier.order_filled(order, intent.edge)  # queues only; never raises
        return order

    async def cancel_all(self) -> int:
        return await self._inner.cancel_all()

    def __getattr__(self, name: str) -> Any:
        # resolve_pending, fail_interrupted, ...: everything else is the wrapped executor's own.
        return getattr(self._inner, name)


class NotifyingSettler:
    """Same behaviour as the wrapped settler; each settled trade is also queued for the owner."""

    def __init__(self, inner: Settler, notifier: Notifier) -> None:
        self._inner = inner
        self._notifier = notifier

    async def settle_due(self) -> SettleReport:
        report = await self._inner.settle_due()
        for trade in report.settled:
            self._notifier.settled(trade)
        return report

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
