"""The console text the kill switch prints for a person: a hard stop, an auth halt, a locked start."""

from __future__ import annotations

import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from src.model.exit_codes import EXIT_AUTH_HALT, EXIT_HARD_STOP
from src.risk.lockfile import lock_path
from src.risk.protections import Reason

EVENT_LOG_NAME = "KILL_SWITCH_EVENT.log"
RESET_COMMAND = "python main.py --reset-killswitch"

Output = Callable[[str], None]


def print_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def reset_instructions(root: Path) -> str:
    return (
        f"The lock is {lock_path(root)}; the bot will not start while it exists.\n"
        f"Review {root / EVENT_LOG_NAME} and your trades, then run:\n"
        f"    {RESET_COMMAND}\n"
        "It shows the lock, asks you to type RESET on a terminal, removes the lock and records the reset."
    )


def locked_start_message(why: str, root: Path) -> str:
    return f"REFUSING TO START: the kill switch is locked ({why}).\n{reset_instructions(root)}"


def auth_halt_message(failures: int, last_code: str, blockers: Path) -> str:
    return (
        f"KILL SWITCH: trading halted after {failures} consecutive authentication failures "
        f"(last: {last_code or 'no code'}). What failed and how to fix it: {blockers}. "
        f"The bot exits with code {EXIT_AUTH_HALT}; the halt clears when authentication succeeds."
    )


def hard_stop_message(
    reason: Reason,
    detail: str,
    cancel_note: str,
    lock_written: bool,
    lock_file: Path,
    problems: list[str],
    floor: Decimal,
) -> str:
    bar = "=" * 78
    root = lock_file.parent
    lines = [bar, f"KILL SWITCH: HARD STOP ({reason.value})", detail, f"Orders: {cancel_note}."]
    if reason is Reason.LOCK_PRESENT:
        lines.append(f"{lock_file} is present.")
    elif lock_written:
        lines.append(f"Lock written: {lock_file}")
    lines += [f"PROBLEM: {p}" for p in problems]
    lines += [
        f"Trading has stopped; the bot exits with code {EXIT_HARD_STOP}.",
        reset_instructions(root),
        "After a reset the total-loss limit counts losses from the reset; the bankroll floor "
        f"(${floor}) always applies, so a bankroll under it stops the bot again until money is added.",
        bar,
    ]
    return "\n".join(lines)
