"""Soak: the simulator daemon runs tens of simulated hours; its memory and open files stay flat.

`python main.py --sim` (built-in price generator, asked for 20,000x real time; it runs as fast as
one core allows) runs in a subprocess from a temporary project for SOAK_SECONDS of wall time, then
gets SIGINT like a person's Ctrl-C. Resident memory (VmRSS in /proc/<pid>/status) and open file
descriptors (/proc/<pid>/fd) are sampled twice a second. After a warm-up, neither may keep growing.
The figures are printed (pytest -s) and written to soak.json in the test's temporary directory.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fakes.fault_project import copy_code, make_project

SOAK_SECONDS = 36.0
SAMPLE_EVERY_S = 0.5
WARMUP_FRACTION = 0.3
MAX_RSS_GROWTH_KB = 6 * 1024  # after warm-up, last third vs first third (medians)
MAX_FD_GROWTH = 2

pytestmark = pytest.mark.soak


def _sample(pid: int) -> tuple[int, int] | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError):
        return None
    rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return rss, fds


def _slope_kb_per_min(points: list[tuple[float, int]]) -> float:
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    cov = sum((t - mean_t) * (v - mean_v) for t, v in points)
    return cov / var * 60.0 if var else 0.0


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_simulator_daemon_memory_and_file_descriptors_stay_flat(tmp_path) -> None:
    root = copy_code(make_project(tmp_path))
    out_path = root / "stdout.txt"
    with out_path.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, str(root / "main.py"), "--sim", "--speed", "20000"],
            cwd=root, stdout=out, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
        samples: list[tuple[float, int, int]] = []
        started = time.monotonic()
        try:
            while time.monotonic() - started < SOAK_SECONDS:
                time.sleep(SAMPLE_EVERY_S)
                if proc.poll() is not None:
                    break
                got = _sample(proc.pid)
                if got is not None:
                    samples.append((time.monotonic() - started, *got))
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
            try:
                _, err = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate()
    assert proc.returncode == 0, err[-3000:]
    assert samples and samples[-1][0] > SOAK_SECONDS * 0.9, "the daemon ended early"

    conn = sqlite3.connect(root / "data" / "sim.db")
    try:
        health = dict(conn.execute("SELECT key, value FROM health").fetchall())
        trades = conn.execute("SELECT COUNT(*) FROM trades").fetchone()[0]
        settled = conn.execute("SELECT COUNT(*) FROM trades WHERE status = 'settled'").fetchone()[0]
    finally:
        conn.close()
    sim_hours = (float(health["heartbeat_ts"]) - float(health["started_ts"])) / 3600

    steady = [s for s in samples if s[0] >= SOAK_SECONDS * WARMUP_FRACTION]
    third = max(1, len(steady) // 3)
    rss_early = statistics.median(s[1] for s in steady[:third])
    rss_late = statistics.median(s[1] for s in steady[-third:])
    fd_base = statistics.median(s[2] for s in steady[:third])
    figures = {
        "wall_seconds": round(samples[-1][0], 1),
        "simulated_hours": round(sim_hours, 1),
        "trades": trades,
        "settled_trades": settled,
        "samples": len(samples),
        "rss_kb_first": samples[0][1],
        "rss_kb_after_warmup_median": rss_early,
        "rss_kb_end_median": rss_late,
        "rss_kb_max": max(s[1] for s in samples),
        "rss_growth_kb_after_warmup": rss_late - rss_early,
        "rss_slope_kb_per_min_after_warmup": round(_slope_kb_per_min([(s[0], s[1]) for s in steady]), 1),
        "fds_first": samples[0][2],
        "fds_after_warmup_median": fd_base,
        "fds_max_after_warmup": max(s[2] for s in steady),
        "fds_end": samples[-1][2],
        "series": [{"t": round(t, 1), "rss_kb": rss, "fds": fds} for t, rss, fds in samples],
    }
    report = tmp_path / "soak.json"
    report.write_text(json.dumps(figures, indent=2) + "\n")
    print("\nsoak:", json.dumps({k: v for k, v in figures.items() if k != "series"}))

    assert sim_hours >= 8, f"only {sim_hours:.1f} simulated hours: too short to call a soak"
    assert trades > 0, "the simulator never traded: the order path was not exercised"
    assert rss_late - rss_early <= MAX_RSS_GROWTH_KB, figures
    assert max(s[2] for s in steady) - fd_base <= MAX_FD_GROWTH, figures
