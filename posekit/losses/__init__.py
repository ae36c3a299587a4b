"""Loss modules, one per file."""
