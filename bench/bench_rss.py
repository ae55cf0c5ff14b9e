"""Benchmark of the daemon's memory: resident set size (VmRSS) after a simulated day of `main.py --sim`.

The daemon runs as it would for a user (`python main.py --sim --speed 100000`: the built-in price
generator, the simulated KXBTC15M exchange, the real strategy, sizing, kill switch, paper executor,
settlement, SQLite and trade log), in a temporary copy of the project so no file of this checkout
is touched. Simulated time is read from the heartbeat the daemon writes to data/sim.db (its clock
is the simulated clock); once it has simulated 24 hours the daemon's VmRSS is read from
/proc/<pid>/status and it is stopped with SIGTERM (a clean shutdown). The reference is the same
process's VmRSS at its first heartbeat (start-up done, main loop running), so the ratio is the
growth over the day; VmHWM (the peak) and a bare Python interpreter's RSS are reported too.
"""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
TARGET_MB = 150.0
SPEED = 100_000  # the most main.py accepts: the daemon runs as fast as it can
SAMPLE_EVERY_S = 0.25
# The simulated clock starts when the child has finished importing, a moment after we launch it:
# ask for a little more simulated time than the goal so that lag can never shorten the day.
START_MARGIN_S = 120.0
PROJECT_FILES = ("main.py", "config.yaml", "USER_CONFIG.json")
PROJECT_DIRS = ("src",)


def copy_project(dest: Path) -> Path:
    """The files the daemon needs (no data/, logs/, .env or lock file: a fresh install's state)."""
    root = dest / "proj"
    root.mkdir()
    for name in PROJECT_FILES:
        shutil.copy2(REPO_ROOT / name, root / name)
    for name in PROJECT_DIRS:
        shutil.copytree(REPO_ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    for sub in ("data", "logs/trades", "logs/errors"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return root


def read_status_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in kB, from /proc/<pid>/status."""
    values: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    if "VmRSS" not in values:
        raise RuntimeError(f"/proc/{pid}/status has no VmRSS")
    return values


def sim_times(db_path: Path) -> tuple[float | None, float | None]:
    """(heartbeat_ts, started_ts) from the daemon's health table, read-only; None until written."""
    if not db_path.exists():
        return None, None
    try:
        conn = sqlite3.connect(db_path.resolve().as_uri() + "?mode=ro", uri=True, timeout=1.0)
        try:
            rows = dict(conn.execute("SELECT key, value FROM health WHERE key IN ('heartbeat_ts', 'started_ts')"))
        finally:
            conn.close()
    except sqlite3.Error:
        return None, None  # not created yet, or busy for a moment: try again at the next sample
    beat, started = rows.get("heartbeat_ts"), rows.get("started_ts")
    return (float(beat) if beat else None), (float(started) if started else None)


def count_trades(db_path: Path) -> int:
    conn = sqlite3.connect(db_path.resolve().as_uri() + "?mode=ro", uri=True, timeout=5.0)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM trades").fetchone()[0])
    finally:
        conn.close()


def bare_python_rss_mb() -> float:
    """VmRSS of an idle bare interpreter: the floor any Python daemon starts from on this machine."""
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        time.sleep(0.5)
        return read_status_kb(proc.pid)["VmRSS"] / 1024
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.wait(10)


def _stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(10)
    return int(proc.returncode)


def simulate(root: Path, sim_seconds: float, wall_limit_s: float) -> dict[str, Any]:
    """Run the daemon until its heartbeat shows `sim_seconds` simulated; sample its memory meanwhile."""
    db_path = root / "data" / "sim.db"
    stderr_path = root / "stderr.txt"
    launched = time.time()
    with open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen([sys.executable, "main.py", "--sim", "--speed", str(SPEED)], cwd=root,
                                stdout=subprocess.DEVNULL, stderr=stderr)
    t0 = time.perf_counter()
    start_rss_kb: int | None = None
    start_wall = 0.0
    samples: list[tuple[float, float, int]] = []  # (wall s since launch, simulated s, VmRSS kB)
    final: dict[str, int] = {}
    elapsed_sim = 0.0
    try:
        while True:
            time.sleep(SAMPLE_EVERY_S)
            wall = time.perf_counter() - t0
            if proc.poll() is not None:
                last = (stderr_path.read_text(errors="replace").strip().splitlines() or ["no output"])[-1]
                raise RuntimeError(f"the simulated daemon exited early (code {proc.returncode}): {last}")
            status = read_status_kb(proc.pid)
            beat, started = sim_times(db_path)
            if beat is None:
                if wall > 60:
                    raise RuntimeError("the simulated daemon wrote no heartbeat within 60 s")
                continue
            if start_rss_kb is None:
                start_rss_kb, start_wall = status["VmRSS"], wall
            # started_ts is the simulated start when the daemon reports it; else our launch time,
            # which is a little earlier than the simulated start: then ask for the margin on top.
            origin = started if started is not None else launched
            goal = sim_seconds if started is not None else sim_seconds + START_MARGIN_S
            elapsed_sim = beat - origin
            samples.append((round(wall, 2), round(elapsed_sim), status["VmRSS"]))
            if elapsed_sim >= goal:
                final = read_status_kb(proc.pid)
                break
            if wall > wall_limit_s:
                raise RuntimeError(f"only {elapsed_sim / 3600:.1f} simulated hours after {wall_limit_s:g} s")
        wall_total = time.perf_counter() - t0
    finally:
        exit_code = _stop(proc)
    if exit_code != 0:
        raise RuntimeError(f"the simulated daemon did not stop cleanly on SIGTERM (exit {exit_code})")
    return {
        "start_rss_kb": start_rss_kb,
        "start_wall_s": round(start_wall, 2),
        "final_rss_kb": final["VmRSS"],
        "peak_rss_kb": final.get("VmHWM", max(s[2] for s in samples)),
        "simulated_s": round(elapsed_sim),
        "wall_s": round(wall_total, 1),
        "trades": count_trades(db_path),
        "samples": samples[:: max(1, len(samples) // 40)],  # a coarse memory curve for the record
    }


def run(quick: bool = False) -> dict[str, Any]:
    """VmRSS after 24 simulated hours (2 with quick=True) vs at start-up; target < 150 MB."""
    hours = 2 if quick else 24
    with tempfile.TemporaryDirectory(prefix="bench-rss-") as tmp:
        root = copy_project(Path(tmp))
        result = simulate(root, hours * 3600, wall_limit_s=300 if quick else 1800)
    final_mb, start_mb = result["final_rss_kb"] / 1024, result["start_rss_kb"] / 1024
    return {
        "simulated_hours": hours,
        "speed_arg": SPEED,
        "rss_mb": round(final_mb, 1),
        "rss_at_start_mb": round(start_mb, 1),
        "ratio_vs_start": round(final_mb / start_mb, 3),
        "peak_rss_mb": round(result["peak_rss_kb"] / 1024, 1),
        "bare_python_rss_mb": round(bare_python_rss_mb(), 1),
        "simulated_s": result["simulated_s"],
        "wall_s": result["wall_s"],
        "simulated_s_per_wall_s": round(result["simulated_s"] / max(result["wall_s"], 1e-9)),
        "trades": result["trades"],
        "memory_curve": [{"wall_s": w, "sim_s": s, "rss_mb": round(kb / 1024, 1)} for w, s, kb in result["samples"]],
        "target_mb": TARGET_MB,
        "meets_target": final_mb < TARGET_MB,
    }


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv[1:]), indent=2))
