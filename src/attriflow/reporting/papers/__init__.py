"""Per-paper table builders and published-number matching (one module per paper id)."""
