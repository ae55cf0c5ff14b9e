"""Process exit codes every entry point shares."""

from __future__ import annotations

EXIT_OK = 0  # finished normally
EXIT_ERROR = 1  # unexpected failure
EXIT_USAGE = 2  # bad command line or configuration, or a command that needs a terminal ran without one
EXIT_HARD_STOP = 3  # the kill switch hard-stopped, or kill_switch.lock is present (manual reset required)
EXIT_AUTH_HALT = 4  # trading halted after consecutive authentication failures (see BLOCKERS.md)
EXIT_LIVE_REFUSED = 5  # live trading refused by one of its guards (LIVE_TRADING, --live, typed confirmation)
