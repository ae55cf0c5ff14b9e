"""Order execution: paper and live executors, reconciliation and settlement."""
