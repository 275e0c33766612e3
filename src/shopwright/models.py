"""Every table, imported in one place so Alembic and tests see the whole schema."""

from shopwright.accounts.models import Address, PasswordResetToken, RefreshToken, RevokedToken, User
from shopwright.cart.models import Cart, CartItem
from shopwright.catalog.models import Category, Product, Review, Variant
from shopwright.db import Base
from shopwright.idempotency import IdempotencyKey
from shopwright.inventory.models import StockLevel, StockMovement
from shopwright.notifications.models import Email, WebhookDelivery, WebhookEndpoint
from shopwright.orders.models import Order, OrderItem
from shopwright.orders.rollup import OrderStatusDay, SalesCustomer, SalesDay, SalesOrder, SalesProduct
from shopwright.outbox import Event
from shopwright.payments.models import Payment, Refund, WebhookEvent
from shopwright.promotions.models import Voucher, VoucherRedemption

__all__ = [
    "Address",
    "Base",
    "Cart",
    "CartItem",
    "Category",
    "Email",
    "Event",
    "IdempotencyKey",
    "Order",
    "OrderItem",
    "OrderStatusDay",
    "PasswordResetToken",
    "Payment",
    "Product",
    "RefreshToken",
    "Refund",
    "Review",
    "RevokedToken",
    "SalesCustomer",
    "SalesDay",
    "SalesOrder",
    "SalesProduct",
    "StockLevel",
    "StockMovement",
    "User",
    "Variant",
    "Voucher",
    "VoucherRedemption",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
]
