"""Pure statistics of the edge report: lagged correlation, run lengths, Brier score and reliability bins."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class ReliabilityBin:
    """Forecasts in [lo, hi): how many, their mean, and how often the event happened."""

    lo: float
    hi: float
    n: int
    mean_forecast: float
    observed: float


def lagged_correlations(x: np.ndarray, y: np.ndarray, max_lag: int) -> list[float | None]:
    """corr(x[t], y[t + k]) for k = 0..max_lag over the pairs where both are finite (None: too few pairs).

    x leads y by k seconds when the correlation peaks at k > 0.
    """
    out: list[float | None] = []
    n = len(x)
    for k in range(max_lag + 1):
        if k >= n:
            out.append(None)
            continue
        a, b = x[: n - k], y[k:]
        ok = np.isfinite(a) & np.isfinite(b)
        if ok.sum() < 10:
            out.append(None)
            continue
        a, b = a[ok], b[ok]
        sa, sb = a.std(), b.std()
        out.append(None if sa == 0 or sb == 0 else float(((a - a.mean()) * (b - b.mean())).mean() / (sa * sb)))
    return out


def peak_lag(correlations: list[float | None]) -> int | None:
    """The lag with the largest correlation (None when none could be computed)."""
    best: tuple[float, int] | None = None
    for k, c in enumerate(correlations):
        if c is not None and (best is None or c > best[0]):
            best = (c, k)
    return None if best is None else best[1]


def run_lengths(flags: np.ndarray, groups: np.ndarray) -> list[int]:
    """Lengths of the runs of True in `flags`; a run also ends where `groups` changes (a new market)."""
    runs: list[int] = []
    current = 0
    previous_group = None
    for flag, group in zip(flags.tolist(), groups.tolist(), strict=True):
        if group != previous_group and current:
            runs.append(current)
            current = 0
        previous_group = group
        if flag:
            current += 1
        elif current:
            runs.append(current)
            current = 0
    if current:
        runs.append(current)
    return runs


def brier(forecasts: np.ndarray, outcomes: np.ndarray) -> float | None:
    """Mean squared error of probability forecasts against 0/1 outcomes (0 is perfect, 0.25 a coin)."""
    if len(forecasts) == 0:
        return None
    return float(np.mean((forecasts - outcomes) ** 2))


def reliability(forecasts: np.ndarray, outcomes: np.ndarray, bins: int = 10) -> list[ReliabilityBin]:
    """The reliability curve: per forecast bin, the mean forecast against the observed frequency."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(forecasts, edges) - 1, 0, bins - 1)
    out = []
    for b in range(bins):
        mask = idx == b
        n = int(mask.sum())
        if n:
            out.append(ReliabilityBin(float(edges[b]), float(edges[b + 1]), n, float(forecasts[mask].mean()),
                                      float(outcomes[mask].mean())))
    return out


def percentile(values: list[int], q: float) -> float | None:
    return None if not values else float(np.percentile(np.asarray(values, dtype=float), q))
