"""Per-paper table builders, figures and summaries, with the matching of published numbers."""
