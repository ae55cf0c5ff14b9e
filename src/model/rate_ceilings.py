"""The request rates the bot never exceeds at Kalshi: the design's 10 reads/s and 5 writes/s."""

from __future__ import annotations

from decimal import Decimal

# Kalshi's Basic tier allows about 20 reads/s and 10 writes/s; the design stays at half of that.
# Raising either is a code change; config.yaml may only lower them (risk/limits.py enforces it).
HARD_READS_PER_S = Decimal("10")
HARD_WRITES_PER_S = Decimal("5")
