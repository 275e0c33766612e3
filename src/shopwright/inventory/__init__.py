"""Inventory: stock per variant (quantity and reserved), changed only atomically."""
