"""A stand-in for the live daemon's order path, run as a subprocess so a test can kill -9 it mid-trade.

    python tests/fakes/daemon_driver.py --root PROJECT --port PORT --ca CA.pem --ticker T [--count N] [--price P]

It builds exactly what build_and_run builds for --live (settings and keys from PROJECT's .env,
KalshiClient.from_settings with on_auth_failure/success wired to the KillSwitch, the live
database, the trade log, LiveExecutor gated by the kill switch), with one difference: the client's
transport is injected so the production Kalshi host names resolve to the fake on 127.0.0.1:PORT,
trusting only the test CA. Then it buys `count` YES contracts of `ticker` at `price`.

stdout gets one JSON object per line: {"event": "ready", ...} once the components exist, then
{"event": "sending", "client_order_id": ...} just before the order goes out, and, if it is still
alive, {"event": "placed", "status": ...}. The test kills it while the fake holds the answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys
import time
from decimal import Decimal
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from src.config import load_settings  # noqa: E402
from src.db import Database, db_path_for  # noqa: E402
from src.execution.live import LiveExecutor  # noqa: E402
from src.journal.trade_log import TradeLog  # noqa: E402
from src.model.models import Mode, OrderIntent, Side, new_client_order_id  # noqa: E402
from src.platforms.kalshi import KalshiClient  # noqa: E402
from src.risk.kill_switch import KillSwitch  # noqa: E402
from tests.fakes.kalshi_server import KALSHI_HOSTS, HostMapResolver  # noqa: E402


def emit(event: str, **fields: object) -> None:
    print(json.dumps({"event": event, **fields}, default=str), flush=True)


async def run(args: argparse.Namespace) -> int:
    root = Path(args.root)
    settings = load_settings(root=root)
    ca = Path(args.ca).read_text()

    def connector() -> aiohttp.BaseConnector:
        resolver = HostMapResolver({host: ("127.0.0.1", args.port) for host in KALSHI_HOSTS})
        return aiohttp.TCPConnector(resolver=resolver, ssl=ssl.create_default_context(cadata=ca), use_dns_cache=False)

    holder: dict[str, KillSwitch] = {}
    client = KalshiClient.from_settings(
        settings,
        require_auth=True,
        connector_factory=connector,
        on_auth_failure=lambda code: holder["ks"].record_auth_failure(code),
        on_auth_success=lambda: holder["ks"].record_auth_success(),
    )
    db = Database(db_path_for(root, Mode.LIVE))
    trade_log = TradeLog(root / "logs" / "trades", time.time)
    executor: LiveExecutor | None = None

    def cancel_all() -> None:
        if executor is not None:
            asyncio.ensure_future(executor.cancel_all())

    ks = KillSwitch(settings.app.risk, settings.user.starting_bankroll_usd, db, root, mode=Mode.LIVE,
                    clock=time.time, cancel_all=cancel_all)
    holder["ks"] = ks
    executor = LiveExecutor(client, db, trade_log, time.time, ks.check_order_allowed,
                            time_in_force=settings.app.execution.time_in_force,
                            on_order_submitted=lambda intent: ks.record_order_submitted(intent.client_order_id))
    intent = OrderIntent(args.ticker, Side.YES, Decimal(args.count), Decimal(args.price), new_client_order_id(),
                         strategy="btc_lag", fair_prob=0.9, edge=Decimal("1"))
    status = ks.status()
    emit("ready", state=status.state.value, bankroll=status.bankroll, loss_streak=status.loss_streak)
    try:
        emit("sending", client_order_id=intent.client_order_id)
        order = await executor.execute(intent)
        emit("placed", client_order_id=intent.client_order_id, status=order.status, filled=order.filled_count)
    finally:
        await client.close()
        db.close()
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--ticker", required=True)
    p.add_argument("--count", default="5")
    p.add_argument("--price", default="0.30")
    return asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
