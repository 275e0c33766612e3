"""Order errors."""

from shopwright.errors import Conflict, InvalidRequest, NotFound


class OrderNotFound(NotFound):
    code = "order_not_found"
    title = "Order not found"


class InvalidTransition(Conflict):
    code = "invalid_transition"
    title = "The order cannot move to that status"


class OrderNotEditable(Conflict):
    code = "order_not_editable"
    title = "Only pending orders can be changed"


class UnsupportedShippingCountry(InvalidRequest):
    code = "unsupported_shipping_country"
    title = "We do not ship to that country"


class NothingToRefund(Conflict):
    code = "nothing_to_refund"
    title = "The order has no captured payment left to refund"


class OrderItemNotFound(NotFound):
    code = "order_item_not_found"
    title = "Order item not found"


class OrderWouldBeEmpty(InvalidRequest):
    code = "order_would_be_empty"
    title = "An order keeps at least one line"


class OrderTotalTooLarge(InvalidRequest):
    code = "order_total_too_large"
    title = "The order's total is over the limit"


class ProductNoLongerSold(Conflict):
    """A pending order's line of a withdrawn product or variant was raised (it can only be lowered)."""

    code = "product_unavailable"
    title = "Product not available"


class NothingToPay(Conflict):
    code = "nothing_to_pay"
    title = "The order totals 0: there is nothing to charge"
