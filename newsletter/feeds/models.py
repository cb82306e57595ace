"""feeds has no tables of its own."""
