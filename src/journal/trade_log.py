"""Append one JSON object per trade event to logs/trades/YYYY-MM-DD.jsonl (UTC dates)."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from src.journal.log_setup import redact
from src.model.models import Fill, OrderIntent, Verdict


class TradeLogError(Exception):
    """The trade log could not be written (read-only or full disk): trading must not go on blind."""


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "value"):
        return value.value
    raise TypeError(f"cannot log {type(value).__name__}")


class TradeLog:
    """Each event is one line, written and flushed before the call returns, so nothing is lost silently."""

    def __init__(self, directory: Path, clock: Any = time.time) -> None:
        self.directory = directory
        self._clock = clock

    def path_for(self, ts: float) -> Path:
        day = datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d")
        return self.directory / f"{day}.jsonl"

    def write(self, event: str, **fields: Any) -> Path:
        ts = float(fields.pop("ts", self._clock()))
        record = {"ts": ts, "time": datetime.fromtimestamp(ts, tz=UTC).isoformat(), "event": event, **fields}
        line = redact(orjson.dumps(record, default=_default).decode(), uuids=False) + "\n"
        path = self.path_for(ts)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                data = line.encode()
                written = os.write(fd, data)
                if written != len(data):
                    raise OSError(28, "short write")
            finally:
                os.close(fd)
        except OSError as exc:
            raise TradeLogError(f"cannot write trade log {path}: {exc.strerror or exc}") from None
        return path

    def order_refused(self, ts: float, mode: str, intent: OrderIntent, verdict: Verdict) -> Path:
        """An intent stopped before anything was sent, and why (the same line for every executor)."""
        return self.write(
            "order_refused", ts=ts, mode=mode, client_order_id=intent.client_order_id, ticker=intent.ticker,
            side=intent.side, count=intent.count, limit_price=intent.limit_price, reason=verdict.reason,
            detail=verdict.detail,
        )

    def order_submitted(self, ts: float, mode: str, intent: OrderIntent, time_in_force: str) -> Path:
        """An intent recorded and about to be sent (the same line for every executor)."""
        return self.write(
            "order_submitted", ts=ts, mode=mode, client_order_id=intent.client_order_id, ticker=intent.ticker,
            side=intent.side, count=intent.count, limit_price=intent.limit_price, time_in_force=time_in_force,
            strategy=intent.strategy, edge=intent.edge, fair_prob=intent.fair_prob,
        )

    def fill(self, ts: float, mode: str, client_order_id: str, fill: Fill) -> Path:
        """One fill of one of our orders (the same line for paper fills and venue fills)."""
        return self.write(
            "fill", ts=ts, mode=mode, client_order_id=client_order_id, order_id=fill.order_id,
            fill_id=fill.fill_id, ticker=fill.ticker, side=fill.side, count=fill.count, price=fill.price,
            fee=fill.fee,
        )
