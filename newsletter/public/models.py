"""public has no tables of its own."""
