"""Every table, imported in one place so Alembic and tests see the whole schema."""

from shopwright.accounts.models import Address, PasswordResetToken, RefreshToken, RevokedToken, User
from shopwright.cart.models import Cart, CartItem
from shopwright.catalog.models import Category, Product, Review, Variant
from shopwright.db import Base
from shopwright.inventory.models import StockLevel
from shopwright.outbox import Event

__all__ = [
    "Address",
    "Base",
    "Cart",
    "CartItem",
    "Category",
    "Event",
    "PasswordResetToken",
    "Product",
    "RefreshToken",
    "Review",
    "RevokedToken",
    "StockLevel",
    "User",
    "Variant",
]
