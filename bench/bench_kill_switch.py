"""Benchmark: check_order_allowed latency (median, p99) with a realistic, fully rebuilt kill switch state."""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repo root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from src.config import RiskConfig  # noqa: E402
from src.db import Database, db_path_for  # noqa: E402
from src.model.models import Fill, Mode, OrderIntent, Side  # noqa: E402
from src.risk.kill_switch import KillSwitch  # noqa: E402

TARGET_P99_NS = 20_000


def _seed(db: Database, now: float) -> None:
    """Two weeks of settled trades (mixed wins and losses) and ten orders in the last hour."""
    n = 0
    for day in range(14, 0, -1):
        for k in range(12):
            n += 1
            ts = now - day * 86_400 + k * 1_800
            cid = f"bench-{n}"
            intent = OrderIntent(f"KXBTC15M-B{n}", Side.YES, Decimal("3"), Decimal("0.55"), cid)
            db.insert_order_intent(intent, ts - 900)
            fill = Fill(cid, intent.ticker, Side.YES, Decimal("3"), Decimal("0.55"), Decimal("0.06"), ts - 900, "f")
            trade_id = db.record_execution(cid, ts - 900, status="executed", venue_order_id=None, fills=[fill])
            pnl = Decimal("1.29") if k % 3 else Decimal("-1.71")
            db.settle_trade(trade_id or 0, ts, result="yes", payout=Decimal("3"), pnl=pnl, day=str(day),
                            bankroll_after=Decimal("100") + pnl)
    for i in range(10):
        db.insert_order_intent(
            OrderIntent("KXBTC15M-NOW", Side.NO, Decimal("2"), Decimal("0.40"), f"recent-{i}"), now - 3_000 + i * 60
        )


def _time(fn, calls: int) -> list[int]:  # type: ignore[no-untyped-def]
    clock = time.perf_counter_ns
    samples = [0] * calls
    for i in range(calls):
        t0 = clock()
        fn()
        samples[i] = clock() - t0
    return samples


def _summary(samples: list[int]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ns": float(statistics.median(ordered)),
        "p99_ns": float(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]),
        "max_ns": float(ordered[-1]),
    }


def run(quick: bool = False) -> dict[str, object]:
    calls = 20_000 if quick else 200_000
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        db = Database(db_path_for(root, Mode.PAPER))
        now = time.time()
        _seed(db, now)
        ks = KillSwitch(RiskConfig(), Decimal("100"), db, root, mode=Mode.PAPER, clock=time.time,
                        cancel_all=lambda: None, out=lambda _: None)
        allowed = OrderIntent("KXBTC15M-NOW", Side.YES, Decimal("5"), Decimal("0.56"), "bench-order")
        too_big = OrderIntent("KXBTC15M-NOW", Side.YES, Decimal("20"), Decimal("0.56"), "bench-big")
        if not ks.check_order_allowed(allowed).allowed or ks.check_order_allowed(too_big).allowed:
            raise RuntimeError("benchmark state is not what it claims to be")
        _time(lambda: ks.check_order_allowed(allowed), calls // 10)  # warm-up
        ok_path = _summary(_time(lambda: ks.check_order_allowed(allowed), calls))
        refused_path = _summary(_time(lambda: ks.check_order_allowed(too_big), calls // 4))
        db.close()
    return {
        "name": "kill_switch.check_order_allowed",
        "calls": calls,
        "allowed_median_ns": ok_path["median_ns"],
        "allowed_p99_ns": ok_path["p99_ns"],
        "allowed_max_ns": ok_path["max_ns"],
        "refused_median_ns": refused_path["median_ns"],
        "refused_p99_ns": refused_path["p99_ns"],
        "median_ns": ok_path["median_ns"],
        "p99_ns": ok_path["p99_ns"],
        "target_p99_ns": TARGET_P99_NS,
        "ok": ok_path["p99_ns"] <= TARGET_P99_NS,
    }


if __name__ == "__main__":
    result = run(quick="--quick" in sys.argv)
    print(json.dumps(result, indent=2))
    sys.exit(0 if result["ok"] else 1)
