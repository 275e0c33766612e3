"""Inventory errors."""

from shopwright.errors import Conflict


class StockBelowReserved(Conflict):
    code = "stock_below_reserved"
    title = "Stock cannot go below what carts have reserved"


class OutOfStock(Conflict):
    code = "out_of_stock"
    title = "Out of stock"
