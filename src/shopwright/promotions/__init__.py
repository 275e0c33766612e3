"""Promotions: vouchers (promo codes) and their redemptions, applied at checkout."""
