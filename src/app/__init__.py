"""The running daemons and their assembly: the Kalshi trading loop, the Polymarket loops, the recorder."""
