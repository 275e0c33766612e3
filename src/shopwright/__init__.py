"""Shopwright: an e-commerce REST API backend."""

from shopwright.app import create_app

__all__ = ["create_app"]
