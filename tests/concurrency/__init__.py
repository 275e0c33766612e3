"""Races with real commits on PostgreSQL: threads released together on a barrier (tests/support/races.py)."""
