"""polymarket-bot: a careful trading bot for Kalshi's 15-minute BTC markets."""
