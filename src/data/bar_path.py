"""The one-second price path a bar (open, high, low, close) becomes: a seeded Brownian bridge through all four.

Why: a bar only says where the price started, ended and how far it went. Replayed as four jumps
(open -> high -> low -> close, 20 s apart) it made the strategy measure the bar's RANGE as its
volatility (1.57 a year on bars whose close-to-close volatility was 0.68) and left 20-second
silences that the feed called stale. A path at one-second steps with the bar's own volatility
fixes both.

The path, for a bar of n = round(length) seconds (n >= MIN_STEPS):
  * Anchors, in log price: the open at step 0, the close at step n, the high and the low at
    two distinct interior steps drawn uniformly, in a random order (a bar does not say which
    extreme came first). An extreme equal to the open or the close is anchored there instead.
  * Between consecutive anchors a Brownian bridge with per-step standard deviation s: it starts
    and ends exactly on the anchors.
  * s is the bar's own volatility: the Garman-Klass estimate of the bar's variance,
        V = 0.5 ln(H/L)^2 - (2 ln 2 - 1) ln(C/O)^2     (never negative, since |ln C/O| <= ln H/L),
    is what the path's squared one-second log returns should add up to. The straight lines
    between anchors already contribute sum(d_j^2 / k_j) (segment j: rise d_j over k_j steps) and
    the bridge noise s^2 (n - segments) in expectation, so
        s^2 = max(0, V - sum(d_j^2 / k_j)) / (n - segments).
  * Then every point is clipped into [ln L, ln H]: the path never leaves the bar (clipping only
    lowers the variance a little) and still touches the high and the low at their anchors.
Prices are rounded to the cent; the first point is the open and the last the close, exactly.

Deterministic: the random draws come from random.Random seeded with the bar's open time in
milliseconds, so the same file always gives the same ticks (its sha256 identifies a replay), and
two bars never share their draws.

Bars shorter than MIN_STEPS seconds (1-second klines) have no room for a path at one-second
steps; they keep four points inside the bar (open, the extremes -- high first on an up or flat
bar -- then close), evenly spaced. Below a second, how the extremes are ordered cannot matter to
a strategy that measures moves over a minute.
"""

from __future__ import annotations

import math
import random

MIN_STEPS = 3  # a path needs two interior steps for the two extremes
_GK_CLOSE = 2.0 * math.log(2.0) - 1.0


def garman_klass_variance(o: float, h: float, low: float, c: float) -> float:
    """The Garman-Klass estimate of a bar's log-price variance (>= 0)."""
    hl = math.log(h / low)
    co = math.log(c / o)
    return max(0.0, 0.5 * hl * hl - _GK_CLOSE * co * co)


def _anchors(n: int, o: float, h: float, low: float, c: float, rng: random.Random) -> list[tuple[int, float]]:
    """(step, log price) points the path must go through, in step order."""
    lo_, lh, ll, lc = math.log(o), math.log(h), math.log(low), math.log(c)
    free: list[float] = []
    for extreme in (lh, ll):
        if extreme not in (lo_, lc):
            free.append(extreme)
    if len(free) == 2 and rng.random() < 0.5:
        free.reverse()
    steps = sorted(rng.sample(range(1, n), len(free)))
    return [(0, lo_), *zip(steps, free, strict=True), (n, lc)]


def bridge_log_path(n: int, o: float, h: float, low: float, c: float, rng: random.Random) -> list[float]:
    """n + 1 log prices at steps 0..n: the module docstring's path, before rounding."""
    anchors = _anchors(n, o, h, low, c, rng)
    segments = len(anchors) - 1
    straight = sum((b - a) ** 2 / (j - i) for (i, a), (j, b) in zip(anchors, anchors[1:], strict=False))
    noise_steps = n - segments
    extra = garman_klass_variance(o, h, low, c) - straight
    s = math.sqrt(extra / noise_steps) if extra > 0.0 and noise_steps > 0 else 0.0
    lo_bound, hi_bound = math.log(low), math.log(h)
    gauss = rng.gauss
    path = [anchors[0][1]]
    for (i, a), (j, b) in zip(anchors, anchors[1:], strict=False):
        k = j - i
        walk = [0.0]
        if s > 0.0:
            w = 0.0
            for _ in range(k):
                w += gauss(0.0, s)
                walk.append(w)
        else:
            walk = [0.0] * (k + 1)
        end = walk[k]
        rise = b - a
        for m in range(1, k + 1):
            f = m / k
            x = a + rise * f + walk[m] - f * end
            path.append(hi_bound if x > hi_bound else lo_bound if x < lo_bound else x)
    path[-1] = anchors[-1][1]  # exactly the close (the bridge ends there up to float rounding)
    return path


def bar_path(
    t0: float, length: float, end_s: float, o: float, h: float, low: float, c: float
) -> list[tuple[float, float]]:
    """(ts, price) points of one bar from t0: open at t0, then one a second, the close at t0 + length - end_s."""
    n = round(length)
    if n < MIN_STEPS:
        step = (length - end_s) / 3.0
        first, second = (h, low) if c >= o else (low, h)
        return [(t0, o), (t0 + step, first), (t0 + 2.0 * step, second), (t0 + length - end_s, c)]
    rng = random.Random(round(t0 * 1000.0))
    logs = bridge_log_path(n, o, h, low, c, rng)
    dt = length / n
    exp = math.exp
    points = [(t0, o)]
    for m in range(1, n):
        price = round(exp(logs[m]), 2)
        # Rounding to the cent must not push a point past the bar's own extremes.
        points.append((t0 + m * dt, h if price > h else low if price < low else price))
    points.append((t0 + length - end_s, c))
    return points
