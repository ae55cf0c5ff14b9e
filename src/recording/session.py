"""Wire one run's recording: where it goes, the recorder, and the tapped market data each consumer gets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from src.config import RecordingConfig
from src.model.models import Clock, Mode, OrderIntent, Sleep
from src.recording.schema import ORIGIN_ORDER, ORIGIN_POLL, ORIGIN_SETTLE, ORIGIN_WATCH
from src.recording.taps import RecordingMarketData, decision_tap
from src.recording.watch import ResultWatcher
from src.recording.writer import Recorder


def recording_root(root: Path, mode: Mode) -> Path:
    """data/recordings for real market data; the simulator's own folder for --sim."""
    return root / "data" / "sim" / "recordings" if mode is Mode.SIM else root / "data" / "recordings"


def should_record(cfg: RecordingConfig, mode: Mode) -> bool:
    return cfg.enabled and (mode is not Mode.SIM or cfg.sim)


@dataclass
class RecordingSession:
    """The recorder of a run and the wrappers to hand to the engine, the executor and the settler."""

    recorder: Recorder
    poll: RecordingMarketData
    order: RecordingMarketData
    settle: RecordingMarketData
    watcher: ResultWatcher
    on_decision: Callable[[str | None, str, OrderIntent | None], None]

    def tap_feed(self, feed: Any) -> None:
        """Record every trade `feed` accepts (WsFeed and ReplayFeed offer record_trades)."""
        feed.record_trades(*self.recorder.btc_channel(feed.source))

    def tap_books(self, books: Any) -> None:
        """Record every event the Kalshi websocket handles (KalshiWs offers record_events): book snapshots
        and deltas with their seq, public trades, BRTI prints and lifecycle events."""
        books.record_events(*self.recorder.ws_channel())

    def close(self) -> None:
        self.recorder.close()


def open_recording(cfg: RecordingConfig, folder: Path, market_data: Any, clock: Clock,
                   sleep: Sleep, meta: dict[str, str] | None = None,
                   order_market_data: Any = None) -> RecordingSession:
    """A started recorder and its taps; `order_market_data` is what the executor walks (else market_data)."""
    recorder = Recorder(folder, flush_interval_s=cfg.flush_interval_s, max_disk_bytes=cfg.max_disk_mb * 1_000_000,
                        meta=meta)
    recorder.start()
    watch = RecordingMarketData(market_data, recorder, clock, ORIGIN_WATCH)
    return RecordingSession(
        recorder=recorder,
        poll=RecordingMarketData(market_data, recorder, clock, ORIGIN_POLL),
        order=RecordingMarketData(order_market_data or market_data, recorder, clock, ORIGIN_ORDER),
        settle=RecordingMarketData(market_data, recorder, clock, ORIGIN_SETTLE),
        watcher=ResultWatcher(watch, clock, sleep, cfg.result_poll_s),
        on_decision=decision_tap(recorder, clock),
    )
