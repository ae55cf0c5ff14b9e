"""The offline simulated KXBTC15M exchange, its clock and the components --sim wires in."""
