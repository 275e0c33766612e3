"""The order status machine and the money arithmetic of order totals."""

from __future__ import annotations

from decimal import Decimal
from itertools import product

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shopwright.orders.errors import InvalidTransition
from shopwright.orders.pricing import PricingRules, compute_totals
from shopwright.orders.status import TRANSITIONS, check_transition, sources

STATUSES = ["pending", "paid", "shipped", "delivered", "cancelled", "refunded"]
ALLOWED = {
    ("pending", "paid"),
    ("pending", "cancelled"),
    ("paid", "shipped"),
    ("paid", "cancelled"),
    ("paid", "refunded"),
    ("shipped", "delivered"),
    ("shipped", "refunded"),
    ("delivered", "refunded"),
}


@pytest.mark.parametrize(("current", "target"), list(product(STATUSES, STATUSES)))
def test_every_transition_is_allowed_or_refused_as_api_md_says(current: str, target: str) -> None:
    if (current, target) in ALLOWED:
        check_transition(current, target)
    else:
        with pytest.raises(InvalidTransition) as refused:
            check_transition(current, target)
        assert refused.value.extensions == {"current": current, "target": target}


def test_sources_invert_the_machine() -> None:
    assert sources("refunded") == {"paid", "shipped", "delivered"}
    assert sources("cancelled") == {"pending", "paid"}
    assert set(TRANSITIONS) == set(STATUSES)


def _rules(**overrides: object) -> PricingRules:
    values: dict[str, object] = {
        "shipping_countries": frozenset(),
        "shipping_rates_cents": {"*": 500, "CA": 900},
        "free_shipping_threshold_cents": 10_000,
        "tax_rates_percent": {"*": Decimal(0), "DE": Decimal("19"), "US": Decimal("8.25")},
    }
    values.update(overrides)
    return PricingRules(**values)  # type: ignore[arg-type]


def test_tax_rounds_half_up_to_the_cent() -> None:
    # 8.25 % of 1.00 is 8.25 cents → 8; of 2.00 is 16.5 cents → 17
    assert compute_totals(_rules(), 100, 0, "US").tax_cents == 8
    assert compute_totals(_rules(), 200, 0, "US").tax_cents == 17


def test_shipping_by_country_and_free_from_the_threshold_after_discount() -> None:
    assert compute_totals(_rules(), 1_000, 0, "CA").shipping_cents == 900
    assert compute_totals(_rules(), 1_000, 0, None).shipping_cents == 500
    assert compute_totals(_rules(), 10_000, 0, "CA").shipping_cents == 0
    assert compute_totals(_rules(), 10_000, 1, "CA").shipping_cents == 900


def test_restricted_countries() -> None:
    rules = _rules(shipping_countries=frozenset({"US"}))
    assert rules.ships_to("US")
    assert not rules.ships_to("FR")
    assert not rules.ships_to(None)
    assert _rules().ships_to(None)


@given(
    subtotal=st.integers(min_value=0, max_value=10**12),
    discount=st.integers(min_value=-10, max_value=10**12),
    country=st.sampled_from([None, "US", "DE", "CA", "FR"]),
    threshold=st.one_of(st.none(), st.integers(min_value=0, max_value=10**9)),
)
def test_totals_always_add_up_and_are_never_negative(
    subtotal: int, discount: int, country: str | None, threshold: int | None
) -> None:
    totals = compute_totals(_rules(free_shipping_threshold_cents=threshold), subtotal, discount, country)
    assert totals.total_cents == (
        totals.subtotal_cents - totals.discount_cents + totals.shipping_cents + totals.tax_cents
    )
    assert 0 <= totals.discount_cents <= totals.subtotal_cents
    assert min(totals.shipping_cents, totals.tax_cents, totals.total_cents) >= 0
    assert all(isinstance(value, int) for value in vars(totals).values())
