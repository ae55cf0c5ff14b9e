"""The bot's journals: log-file set-up, the per-day JSON trade log and the whale-copy journal."""
