"""Trading strategies: pure signal logic that never touches execution, venues or the database."""
