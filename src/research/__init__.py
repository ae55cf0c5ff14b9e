"""Offline research over recorded prices: the backtester and its report."""
