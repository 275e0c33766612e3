"""The names of the outbox events an order publishes (docs/operations.md lists who receives them)."""

ORDER_CREATED = "order.created"
ORDER_PAID = "order.paid"
ORDER_SHIPPED = "order.shipped"
ORDER_DELIVERED = "order.delivered"
ORDER_CANCELLED = "order.cancelled"
ORDER_REFUNDED = "order.refunded"
ORDER_EVENTS = (ORDER_CREATED, ORDER_PAID, ORDER_SHIPPED, ORDER_DELIVERED, ORDER_CANCELLED, ORDER_REFUNDED)
