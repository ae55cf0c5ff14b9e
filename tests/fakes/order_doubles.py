"""Stand-ins the executor tests share: a recording kill-switch check, an OrderIntent maker, the trade log read back."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from src.journal.trade_log import TradeLog
from src.model.models import OrderIntent, Side, Verdict, new_client_order_id


class Gate:
    """A kill switch check that records what it saw (and, given `trace`, when) and answers as told."""

    def __init__(self, verdict: Verdict = Verdict(True), trace: list[str] | None = None) -> None:
        self.verdict = verdict
        self.seen: list[OrderIntent] = []
        self.trace = trace

    def __call__(self, intent: OrderIntent) -> Verdict:
        self.seen.append(intent)
        if self.trace is not None:
            self.trace.append("kill_switch")
        return self.verdict


def order_intent(ticker: str, count: str, limit: str, side: Side = Side.YES, cid: str | None = None) -> OrderIntent:
    """An intent as the strategy makes them (fair probability 0.7, edge 0.1), with a fresh id unless given."""
    return OrderIntent(ticker=ticker, side=side, count=Decimal(count), limit_price=Decimal(limit),
                       client_order_id=cid or new_client_order_id(), fair_prob=0.7, edge=Decimal("0.1"))


def log_lines(tlog: TradeLog) -> list[dict[str, Any]]:
    """Every line the trade log has written, oldest file first."""
    lines: list[dict[str, Any]] = []
    for path in sorted(tlog.directory.glob("*.jsonl")):
        lines.extend(json.loads(line) for line in path.read_text().splitlines())
    return lines
