"""Offline research: backtests (synthetic book, recorded books, TAPE), the edge report and history download."""
