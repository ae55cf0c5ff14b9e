"""The kill switch's own section of BLOCKERS.md for an auth halt, kept apart from anything else in the file."""

from __future__ import annotations

from pathlib import Path

from src.model.exit_codes import EXIT_AUTH_HALT
from src.model.models import Mode, utc_from_ts
from src.risk.lockfile import atomic_write_text

BLOCKERS_NAME = "BLOCKERS.md"
_BLOCKERS_MARK = "<!-- kill-switch:auth begin (src/risk/kill_switch.py; removed when auth succeeds) -->"
_BLOCKERS_END = "<!-- kill-switch:auth end -->"


def blockers_text(codes: list[tuple[float, str]], failures: int, now: float, mode: Mode) -> str:
    """BLOCKERS.md for an auth halt: what failed and, for each likely cause, how to fix it. No secrets."""
    seen = {code.lower() for _, code in codes}
    lines = [
        _BLOCKERS_MARK,
        "# BLOCKER: Kalshi authentication keeps failing, so trading is halted",
        "",
        f"The kill switch halted trading at {utc_from_ts(now).isoformat()} (mode: {mode.value}) after "
        f"{failures} consecutive authentication failures, and the bot exited with code {EXIT_AUTH_HALT}.",
        "",
        "## What failed (newest first)",
        "",
    ]
    lines += [f"- {utc_from_ts(ts).isoformat()}  `{code or 'no error code'}`" for ts, code in codes]
    lines += ["", "## How to fix it", ""]
    clock_hint = (
        "- **Clock skew** (`header_timestamp_expired`): Kalshi rejects signatures whose timestamp is off by more "
        "than a few seconds. Turn on automatic time sync (macOS: System Settings > General > Date & Time > "
        "Set time automatically; Linux: `timedatectl set-ntp true`), then start the bot again."
    )
    key_hint = (
        "- **Wrong key id or key file** (`INCORRECT_API_KEY_SIGNATURE`, 401): `KALSHI_API_KEY_ID` in `.env` must be "
        "the id Kalshi showed when it created the private key at `KALSHI_PRIVATE_KEY_PATH`. If the key was deleted "
        "or you lost the matching .pem, create a new API key on Kalshi and update both lines in `.env`."
    )
    env_hint = (
        "- **Wrong environment**: demo keys only work on demo and production keys only on production. "
        "`kalshi.env` in config.yaml (demo | prod) must match where the key was created."
    )
    likely_clock = any("timestamp" in c or "clock" in c for c in seen)
    hints = [clock_hint, key_hint, env_hint] if likely_clock else [key_hint, env_hint, clock_hint]
    lines += hints
    lines += [
        "",
        "Then run `python main.py --verify`. The halt clears by itself the first time an authenticated request "
        "succeeds (this section is removed then); until then the bot places no orders.",
        _BLOCKERS_END,
        "",
    ]
    return "\n".join(lines)


def write_auth_section(root: Path, section: str) -> Path:
    """Put our section first in root/BLOCKERS.md; anything else already in the file is kept below it.

    Raises LockWriteError or OSError when the file cannot be written.
    """
    path = root / BLOCKERS_NAME
    others = _without_own_section(_read_text(path))
    atomic_write_text(path, section + ("\n" + others if others.strip() else ""))
    return path


def remove_auth_section(root: Path) -> None:
    """Drop our section from root/BLOCKERS.md (the file goes when nothing else is left in it).

    Raises LockWriteError or OSError when the file cannot be updated.
    """
    path = root / BLOCKERS_NAME
    text = _read_text(path)
    if _BLOCKERS_MARK not in text:
        return  # no file, or nothing of ours in it
    others = _without_own_section(text)
    if others.strip():
        atomic_write_text(path, others)
    else:
        path.unlink()


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""


def _without_own_section(text: str) -> str:
    """The file's text minus the kill switch's auth section (other blockers stay)."""
    start = text.find(_BLOCKERS_MARK)
    if start < 0:
        return text
    end = text.find(_BLOCKERS_END, start)
    end = len(text) if end < 0 else end + len(_BLOCKERS_END)
    rest = (text[:start] + text[end:]).strip("\n")
    return rest + "\n" if rest.strip() else ""
