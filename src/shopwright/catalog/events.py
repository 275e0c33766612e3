"""The names of the outbox events of product changes (docs/operations.md lists who receives them)."""

PRODUCT_CREATED = "product.created"
PRODUCT_UPDATED = "product.updated"
PRODUCT_DELETED = "product.deleted"
