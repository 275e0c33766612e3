"""Reviews and ratings, and recommendations (ranked by the orders domain, filled from the category)."""

from __future__ import annotations

from sqlalchemy import Numeric, cast, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shopwright.catalog import display
from shopwright.catalog.cache import bump_catalog_version
from shopwright.catalog.errors import ReviewExists
from shopwright.catalog.models import Product, Review, listed
from shopwright.catalog.schemas import ReviewCreate
from shopwright.catalog.service import get_product
from shopwright.db import AnyRow
from shopwright.pagination import KeysetPage, keyset_page


def add_review(
    session: Session, product_id: int, user_id: int, data: ReviewCreate, *, verified_purchase: bool = False
) -> Review:
    """Add the customer's one review of a product and fold its rating into the product's average."""
    try:
        with session.begin():
            bump_catalog_version(session)  # the product's rating changes
            get_product(session, product_id)
            review = Review(
                product_id=product_id,
                user_id=user_id,
                rating=data.rating,
                title=data.title,
                body=data.body,
                verified_purchase=verified_purchase,
            )
            session.add(review)
            session.flush()  # the unique (product, user) constraint decides a second review, also under races
            # One UPDATE computes from the row's current values under its row lock: racing reviews all count.
            session.execute(
                update(Product)
                .where(Product.id == product_id)
                .values(
                    rating_count=Product.rating_count + 1,
                    rating_sum=Product.rating_sum + data.rating,
                    rating_avg=func.round(
                        cast(Product.rating_sum + data.rating, Numeric) / (Product.rating_count + 1), 2
                    ),
                )
                .execution_options(synchronize_session=False)
            )
    except IntegrityError as error:
        raise ReviewExists("Each customer reviews a product once") from error
    return review


def list_reviews(session: Session, product_id: int, *, limit: int, cursor: str | None) -> KeysetPage[Review]:
    """Return a page of a product's reviews, newest first."""
    get_product(session, product_id)
    statement = select(Review).where(Review.product_id == product_id)
    return keyset_page(session, statement, Review.id, limit=limit, cursor=cursor)


def recommend(session: Session, product_id: int, *, preferred: list[int], limit: int = 8) -> list[AnyRow]:
    """Return products to suggest (display.PRODUCT rows): the `preferred` ids first (as ranked), then the
    newest of its category.

    Only listed products (active, not deleted) and never the product itself.
    """
    product = display.get_product_row(session, product_id)
    chosen = display.listed_products(session, [i for i in preferred if i != product_id])[:limit]
    if len(chosen) < limit and product.category_id is not None:  # no category, no category to fill from
        chosen += session.execute(
            display.PRODUCT.where(
                Product.category_id == product.category_id,
                Product.id.not_in([product_id, *(row.id for row in chosen)]),
                listed(),
            )
            .order_by(Product.id.desc())
            .limit(limit - len(chosen))
        ).all()
    return chosen
