"""Decide what a remote command does: only configured chats are obeyed, and no command adds risk."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger("polybot.notify")

HELP = (
    "Commands: /status  /pnl  /pause (no new orders)  /resume (lifts /pause only)  "
    "/stop (clean shutdown)  /halt (HARD STOP: cancel all, lock; reset only at the terminal)"
)


class Controls(Protocol):
    """What remote control may touch. Each either reads, or makes the bot trade LESS."""

    def status_text(self) -> str: ...

    def pnl_text(self) -> str: ...

    def pause(self, by: str) -> str: ...

    def resume(self) -> str: ...

    def stop(self, by: str) -> str: ...

    def halt(self, by: str) -> str: ...


# Commands that change what the bot does: echoed to every notification service as well.
ACTIONS = frozenset({"/pause", "/resume", "/stop", "/halt"})


def command_word(text: str) -> str:
    """'/Pause@MyBot now' -> '/pause'; '' when the message is not a command."""
    first = text.strip().split(maxsplit=1)[0] if text.strip() else ""
    if not first.startswith("/"):
        return ""
    return first.split("@", 1)[0].lower()


class CommandHandler:
    """handle() returns the reply, or None for a message it ignores (unknown chat, not a command)."""

    def __init__(
        self,
        allowed_chat_ids: frozenset[int],
        controls: Controls,
        *,
        on_action: Callable[[str, int, str], None] | None = None,
    ) -> None:
        self._allowed = allowed_chat_ids
        self._controls = controls
        self._on_action = on_action
        self.refused = 0

    def allows(self, chat_id: int | None) -> bool:
        return chat_id is not None and chat_id in self._allowed

    def handle(self, chat_id: int | None, text: str) -> str | None:
        if not self.allows(chat_id):
            # No reply: a stranger learns nothing, not even that this bot listens.
            self.refused += 1
            log.warning("telegram: ignored a message from chat %s, which is not in TELEGRAM_CHAT_IDS", chat_id)
            return None
        word = command_word(text)
        if not word:
            return HELP
        by = f"Telegram chat {chat_id}"
        c = self._controls
        handlers: dict[str, Callable[[], str]] = {
            "/status": c.status_text,
            "/pnl": c.pnl_text,
            "/pause": lambda: c.pause(by),
            "/resume": c.resume,
            "/stop": lambda: c.stop(by),
            "/halt": lambda: c.halt(by),
            "/help": lambda: HELP,
            "/start": lambda: HELP,
        }
        handler = handlers.get(word)
        if handler is None:
            return f"Unknown command {word}. {HELP}"
        log.warning("telegram: %s from chat %s", word, chat_id)
        try:
            reply = handler()
        except Exception as exc:  # noqa: BLE001 - report it to the owner; the bot keeps its state
            log.error("telegram: %s failed (%s)", word, type(exc).__name__, exc_info=exc)
            reply = f"{word} failed ({type(exc).__name__}); check the bot's terminal."
        if word in ACTIONS and self._on_action is not None:
            self._on_action(word, chat_id, reply)
        return reply
