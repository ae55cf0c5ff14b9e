"""Read-only views of the stored trades: the daily report, its renderers and the dashboard's queries."""
