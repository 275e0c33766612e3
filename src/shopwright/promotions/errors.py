"""Promotions errors."""

from shopwright.errors import Conflict, InvalidRequest, NotFound


class VoucherNotFound(NotFound):
    code = "voucher_not_found"
    title = "Voucher not found"


class VoucherCodeTaken(Conflict):
    code = "voucher_code_taken"
    title = "Voucher code already used"


class VoucherInUse(Conflict):
    code = "voucher_in_use"
    title = "Voucher has redemptions"


class VoucherNotApplicable(InvalidRequest):
    """Raised with `reason`: unknown_code, inactive, not_started, ended, currency_mismatch or min_subtotal."""

    code = "voucher_not_applicable"
    title = "Voucher does not apply"


class VoucherExhausted(Conflict):
    """Raised with `reason`: usage_limit or per_customer_limit."""

    code = "voucher_exhausted"
    title = "Voucher used up"
