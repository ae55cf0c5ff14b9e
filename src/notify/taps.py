"""Pass-through wrappers around the trading components (executor, settler, reconciler) that tell the notifier."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from src.model.interfaces import Executor, Settler, SettleReport
from src.model.models import Order, OrderIntent
from src.notify.messages import DiscrepancyLike
from src.notify.notifier import Notifier


class ReconcileReportLike(Protocol):
    @property
    def discrepancies(self) -> tuple[DiscrepancyLike, ...]: ...


R = TypeVar("R", bound=ReconcileReportLike)


class NotifyingExecutor:
    """Same behaviour as the wrapped executor; a fill is also queued for the owner after it is recorded."""

    def __init__(self, inner: Executor, notifier: Notifier) -> None:
        self._inner = inner
        self._notifier = notifier

    async def execute(self, intent: OrderIntent) -> Order:
        order = await self._inner.execute(intent)
        self._notifier.order_filled(intent, order)  # queues only; never raises
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


def telling_reconciliation(run: Callable[[], Awaitable[R]], notifier: Notifier) -> Callable[[], Awaitable[R]]:
    """The reconciler's run(), also telling the owner when the venue and the database disagree."""

    async def run_and_tell() -> R:
        report = await run()
        notifier.reconciliation(report.discrepancies)
        return report

    return run_and_tell
