"""Order totals in integer cents: shipping by country with a free-shipping threshold, tax by country.

total = subtotal - discount + shipping + tax. Tax applies to the goods after discount (not to shipping)
and is rounded half up to the cent.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import TypeVar

from shopwright.config import Settings
from shopwright.orders.errors import OrderTotalTooLarge

ANY_COUNTRY = "*"
# No order is worth more: far above any real one, and far below what the BIGINT money columns hold, so
# no sum over an order (lines, edits, tax, a payment and its refunds) can overflow them.
MAX_ORDER_CENTS = 10**15
T = TypeVar("T")


@dataclass(frozen=True)
class PricingRules:
    shipping_countries: frozenset[str]  # empty: every country
    shipping_rates_cents: dict[str, int]
    free_shipping_threshold_cents: int | None
    tax_rates_percent: dict[str, Decimal]

    @classmethod
    def from_settings(cls, settings: Settings) -> PricingRules:
        """Read the rules from the shop's settings."""
        return cls(
            shipping_countries=frozenset(code.upper() for code in settings.SHIPPING_COUNTRIES),
            shipping_rates_cents={key.upper(): cents for key, cents in settings.SHIPPING_RATES_CENTS.items()},
            free_shipping_threshold_cents=settings.FREE_SHIPPING_THRESHOLD_CENTS,
            tax_rates_percent={key.upper(): rate for key, rate in settings.TAX_RATES_PERCENT.items()},
        )

    def ships_to(self, country: str | None) -> bool:
        """Tell whether the shop ships to `country` (None: an address given as free text)."""
        return not self.shipping_countries or (country is not None and country in self.shipping_countries)


@dataclass(frozen=True)
class Totals:
    subtotal_cents: int
    discount_cents: int
    shipping_cents: int
    tax_cents: int
    total_cents: int


def compute_totals(
    rules: PricingRules, subtotal_cents: int, discount_cents: int, country: str | None
) -> Totals:
    """Price an order; `country` None (a free-text address) uses the "*" rates.

    Raises OrderTotalTooLarge when the total would pass MAX_ORDER_CENTS.
    """
    discount = min(max(discount_cents, 0), subtotal_cents)
    goods = subtotal_cents - discount
    free = rules.free_shipping_threshold_cents
    shipping = (
        0
        if subtotal_cents == 0 or (free is not None and goods >= free)
        else _rate(rules.shipping_rates_cents, country, 0)
    )
    rate = _rate(rules.tax_rates_percent, country, Decimal(0))
    tax = int((Decimal(goods) * rate / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    total = goods + shipping + tax
    if max(subtotal_cents, total) > MAX_ORDER_CENTS:
        raise OrderTotalTooLarge(f"An order totals at most {MAX_ORDER_CENTS} cents; this one {total}")
    return Totals(subtotal_cents, discount, shipping, tax, total)


def _rate(rates: dict[str, T], country: str | None, default: T) -> T:
    if country is not None and country in rates:
        return rates[country]
    return rates.get(ANY_COUNTRY, default)
