"""Market data in: BTC trade feeds, the rolling price window, price files and the whale tracker."""
