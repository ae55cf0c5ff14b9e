"""Venue REST clients (Kalshi, Polymarket): calls, transport and wire parsing."""
