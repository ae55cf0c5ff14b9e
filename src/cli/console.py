"""The terminal's lines to a person: numbered start-up steps, one-line errors."""

from __future__ import annotations

import sys


def say(step: int, text: str) -> None:
    print(f"[{step:>2}/12] {text}", flush=True)


def fail(message: str, code: int) -> int:
    """Print `message` as one `error:` line on stderr and return `code`, the process exit code."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    return code
