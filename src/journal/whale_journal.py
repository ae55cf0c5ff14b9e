"""Record every whale trade the Polymarket US copier saw, and what became of it, in that mode's database.

One row per whale trade: who, which international market and outcome at what price, the US
market and side it mapped to (empty when unmatched), and the outcome's reason code (copied,
no_fill, no_us_market, price_too_high, ...). The dashboard reads this table (read-only) for
"whale activity" and counts the reason codes for "skip reasons".
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from src.db import Database

WHALE_ACTIVITY_SQL = """
    CREATE TABLE IF NOT EXISTS whale_activity (
        id INTEGER PRIMARY KEY,
        ts REAL NOT NULL,
        whale TEXT NOT NULL,
        wallet TEXT NOT NULL,
        title TEXT NOT NULL DEFAULT '',
        intl_slug TEXT NOT NULL DEFAULT '',
        outcome TEXT NOT NULL DEFAULT '',
        whale_price TEXT NOT NULL,
        whale_size TEXT NOT NULL,
        us_slug TEXT NOT NULL DEFAULT '',
        us_side TEXT NOT NULL DEFAULT '',
        code TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    )
"""


@dataclass(frozen=True, slots=True)
class WhaleActivity:
    ts: float
    whale: str
    wallet: str
    title: str
    intl_slug: str
    outcome: str
    whale_price: Decimal
    whale_size: Decimal
    us_slug: str
    us_side: str
    code: str
    detail: str


def ensure_whale_activity(db: Database) -> None:
    """Create the table if missing (outside MIGRATIONS, so Kalshi's files keep their schema)."""
    with db.transaction() as conn:
        conn.execute(WHALE_ACTIVITY_SQL)
        conn.execute("CREATE INDEX IF NOT EXISTS whale_activity_ts ON whale_activity(ts)")


def record_whale_activity(db: Database, row: WhaleActivity) -> None:
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO whale_activity (ts, whale, wallet, title, intl_slug, outcome, whale_price, whale_size,"
            " us_slug, us_side, code, detail) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (row.ts, row.whale[:80], row.wallet, row.title[:200], row.intl_slug[:200], row.outcome[:80],
             str(row.whale_price), str(row.whale_size), row.us_slug, row.us_side, row.code[:80],
             row.detail[:300]),
        )  # fmt: skip
