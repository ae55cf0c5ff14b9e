"""Save edge reports into data/edge.db (SQLite), the one place the dashboard's Edge page reads them from."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict
from pathlib import Path

from src.model.file_locations import edge_db_path
from src.research.edge_report import EdgeReport

SCHEMA = """
CREATE TABLE IF NOT EXISTS edge_reports (
    id INTEGER PRIMARY KEY,
    created_ts REAL NOT NULL,
    recording TEXT NOT NULL,
    payload TEXT NOT NULL
)
"""


def save_edge_report(root: Path, report: EdgeReport) -> Path:
    """Append `report` (as JSON) and return the database path."""
    path = edge_db_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    try:
        with conn:
            conn.execute(SCHEMA)
            conn.execute("INSERT INTO edge_reports (created_ts, recording, payload) VALUES (?, ?, ?)",
                         (report.created_ts, report.recording, json.dumps(asdict(report), allow_nan=False)))
    finally:
        conn.close()
    return path
