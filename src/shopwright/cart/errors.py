"""Cart errors."""

from shopwright.errors import Conflict, InvalidRequest, NotFound


class CartItemNotFound(NotFound):
    code = "cart_item_not_found"
    title = "Cart item not found"


class ProductUnavailable(NotFound):
    code = "product_unavailable"
    title = "Product not available"


class CartCurrencyMismatch(Conflict):
    code = "cart_currency_mismatch"
    title = "A cart holds items of one currency"


class LineQuantityExceeded(InvalidRequest):
    code = "line_quantity_exceeded"
    title = "Too many units on one cart line"


class CartEmpty(InvalidRequest):
    code = "cart_empty"
    title = "Your cart is empty"


class CartExpired(InvalidRequest):
    code = "cart_expired"
    title = "Your cart expired"


class CartItemUnavailable(InvalidRequest):
    code = "cart_item_unavailable"
    title = "A cart line can no longer be bought"


class CartFull(InvalidRequest):
    code = "cart_full"
    title = "The cart holds as many lines as it can"
