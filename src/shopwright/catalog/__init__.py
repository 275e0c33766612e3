"""Catalog: categories (a tree), products, variants, reviews and recommendations."""
