"""The running daemons and their assembly: the Kalshi trading loop and the Polymarket whale loop."""
