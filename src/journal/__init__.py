"""What the bot writes down as text: log-file set-up and the per-day JSON trade log."""
