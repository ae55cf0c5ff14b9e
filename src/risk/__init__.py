"""Risk gates, all synchronous: the kill switch, its protections, sizing and the lock file."""
