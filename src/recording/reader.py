"""Read a recording back: find its day folders, load each stream, and merge them in the order seen."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from src.recording.schema import SCHEMAS, STREAMS
from src.recording.writer import DAY_FORMAT, PART_SUFFIX, SESSIONS_DIR

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class RecordingError(ValueError):
    """A path that is not a readable recording: reported to the user in one line."""


def _is_day_folder(path: Path) -> bool:
    return path.is_dir() and any((path / s).is_dir() for s in STREAMS)


def is_recording(path: Path) -> bool:
    """True for a day folder (it holds stream folders) or a folder of day folders."""
    path = Path(path)
    if not path.is_dir():
        return False
    if _is_day_folder(path):
        return True
    return any(_DAY.match(p.name) and _is_day_folder(p) for p in path.iterdir())


def recording_days(path: Path, start: float | None = None, end: float | None = None) -> list[Path]:
    """The day folders of `path` (itself, if it is one) whose UTC day overlaps [start, end)."""
    path = Path(path)
    if _is_day_folder(path):
        days = [path]
    elif path.is_dir():
        days = sorted(p for p in path.iterdir() if _DAY.match(p.name) and _is_day_folder(p))
    else:
        raise RecordingError(f"{path} is not a recording folder")
    kept = []
    for day in days:
        try:
            begin = datetime.strptime(day.name, DAY_FORMAT).replace(tzinfo=UTC).timestamp()
        except ValueError:
            kept.append(day)  # a day folder renamed by hand: keep it, rows are filtered by time below
            continue
        stop = begin + timedelta(days=1).total_seconds()
        if (start is None or stop > start) and (end is None or begin < end):
            kept.append(day)
    if not kept:
        raise RecordingError(f"{path}: no recorded days in the requested range")
    return kept


@dataclass
class Recording:
    """Every stream of some recorded days, each sorted by (session, seq), as Arrow tables."""

    days: list[Path]
    tables: dict[str, pa.Table]
    sessions: dict[str, dict[str, str]] = field(default_factory=dict)  # session id -> who recorded it
    _columns: dict[str, dict[str, list[Any]]] = field(default_factory=dict)

    @property
    def modes(self) -> set[str]:
        """The modes that recorded it ("paper", "live", "sim", "record-only"); empty if unknown."""
        return {m.get("mode", "") for m in self.sessions.values()} - {""}

    @property
    def synthetic(self) -> bool:
        """True when any of it was recorded from the simulator (its books are made up)."""
        return "sim" in self.modes

    def overlapping_sessions(self) -> bool:
        """True when two recorders wrote at the same time (e.g. --paper and --record-only on one folder):
        their events are then replayed one session after the other, not interleaved."""
        spans: dict[int, tuple[float, float]] = {}
        for stream in STREAMS:
            if not self.rows(stream):
                continue
            sessions, recv = self.numpy(stream, "session"), self.numpy(stream, "recv_ts")
            for session in np.unique(sessions).tolist():
                times = recv[sessions == session]
                lo, hi = spans.get(session, (float("inf"), float("-inf")))
                spans[session] = (min(lo, float(times.min())), max(hi, float(times.max())))
        ordered = [spans[s] for s in sorted(spans)]
        return any(later[0] < earlier[1] for earlier, later in zip(ordered, ordered[1:], strict=False))

    def rows(self, stream: str) -> int:
        return int(self.tables[stream].num_rows)

    @property
    def events(self) -> int:
        return sum(self.rows(s) for s in STREAMS)

    def column(self, stream: str, name: str) -> list[Any]:
        """One column as Python values (cached)."""
        cols = self._columns.setdefault(stream, {})
        if name not in cols:
            cols[name] = self.tables[stream].column(name).to_pylist()
        return cols[name]

    def numpy(self, stream: str, name: str) -> np.ndarray:
        return self.tables[stream].column(name).to_numpy(zero_copy_only=False)

    def merged_order(self) -> tuple[np.ndarray, np.ndarray]:
        """(stream index into STREAMS, row) of every event, in the order the bot saw them."""
        streams, rows, sessions, seqs = [], [], [], []
        for i, stream in enumerate(STREAMS):
            n = self.rows(stream)
            if not n:
                continue
            streams.append(np.full(n, i, dtype=np.int8))
            rows.append(np.arange(n, dtype=np.int64))
            sessions.append(self.numpy(stream, "session"))
            seqs.append(self.numpy(stream, "seq"))
        if not streams:
            return np.zeros(0, dtype=np.int8), np.zeros(0, dtype=np.int64)
        order = np.lexsort((np.concatenate(seqs), np.concatenate(sessions)))
        return np.concatenate(streams)[order], np.concatenate(rows)[order]


def _read_stream(days: list[Path], stream: str, start: float | None, end: float | None) -> pa.Table:
    schema = SCHEMAS[stream]
    parts = []
    for day in days:
        for file in sorted((day / stream).glob(f"*{PART_SUFFIX}")):
            try:
                parts.append(pq.read_table(file, schema=schema))
            except (OSError, pa.ArrowInvalid) as exc:
                raise RecordingError(f"{file}: unreadable Parquet part ({exc})") from None
    if not parts:
        return schema.empty_table()
    table = pa.concat_tables(parts).sort_by([("session", "ascending"), ("seq", "ascending")])
    if start is not None or end is not None:
        recv = table.column("recv_ts").to_numpy()
        keep = np.ones(len(recv), dtype=bool)
        if start is not None:
            keep &= recv >= start
        if end is not None:
            keep &= recv < end
        table = table.filter(pa.array(keep))
    return table


def load_recording(path: Path, start: float | None = None, end: float | None = None) -> Recording:
    """Load the days of `path` in [start, end) (all of them by default)."""
    days = recording_days(path, start, end)
    tables = {stream: _read_stream(days, stream, start, end) for stream in STREAMS}
    sessions: dict[str, dict[str, str]] = {}
    for day in days:
        for file in sorted((day / SESSIONS_DIR).glob("*.json")):
            try:
                sessions[file.stem] = json.loads(file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # provenance is informational: an unreadable note does not stop a replay
    return Recording(days, tables, sessions)
