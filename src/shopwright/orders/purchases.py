"""What customers bought: verified purchases for reviews, "bought together" and best sellers for
recommendations. Read-only; an order counts once it is paid (paid, shipped or delivered)."""

from __future__ import annotations

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session, aliased

from shopwright.catalog.models import Product
from shopwright.db import is_row_id
from shopwright.orders.models import Order, OrderItem
from shopwright.orders.status import DELIVERED, PAID, SHIPPED

PURCHASED = (PAID, SHIPPED, DELIVERED)


def has_purchased(session: Session, user_id: int, product_id: int) -> bool:
    """Tell whether the customer has a paid order containing the product."""
    if not is_row_id(product_id):
        return False
    with session.begin():
        return bool(
            session.scalar(
                select(OrderItem.id)
                .join(Order, Order.id == OrderItem.order_id)
                .where(
                    Order.user_id == user_id, Order.status.in_(PURCHASED), OrderItem.product_id == product_id
                )
                .limit(1)
            )
        )


def recommendation_ranking(session: Session, product_id: int, *, limit: int) -> list[int]:
    """Rank product ids to suggest: most bought together with this one, then the category's best sellers."""
    if not is_row_id(product_id):
        return []
    with session.begin():
        this, other = aliased(OrderItem), aliased(OrderItem)
        together = session.scalars(
            select(other.product_id)
            .select_from(this)
            .join(Order, Order.id == this.order_id)
            .join(other, (other.order_id == this.order_id) & (other.product_id != this.product_id))
            .where(this.product_id == product_id, Order.status.in_(PURCHASED))
            .group_by(other.product_id)
            .order_by(func.count(distinct(other.order_id)).desc(), other.product_id.desc())
            .limit(limit)
        ).all()
        category = select(Product.category_id).where(Product.id == product_id).scalar_subquery()
        sellers = session.scalars(
            select(OrderItem.product_id)
            .join(Order, Order.id == OrderItem.order_id)
            .join(Product, Product.id == OrderItem.product_id)
            .where(
                Order.status.in_(PURCHASED),
                Product.category_id == category,
                OrderItem.product_id != product_id,
            )
            .group_by(OrderItem.product_id)
            .order_by(func.sum(OrderItem.quantity).desc(), OrderItem.product_id.desc())
            .limit(limit)
        ).all()
    return list(dict.fromkeys([*together, *sellers]))
