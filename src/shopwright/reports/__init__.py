"""Reports: the back office's read-only sales, profit and dashboard figures (SQL aggregates)."""
