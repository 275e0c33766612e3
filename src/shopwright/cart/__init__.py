"""Cart: one active cart per customer, its lines and saved-for-later items, reservations that expire."""
