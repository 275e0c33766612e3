"""Payment errors."""

from shopwright.errors import BadGateway, Conflict, NotFound, PaymentRequired, ShopError


class PaymentNotFound(NotFound):
    code = "payment_not_found"
    title = "Payment not found"


class PaymentInProgress(Conflict):
    code = "payment_in_progress"
    title = "The order already has a payment in progress or paid"


class CardDeclined(PaymentRequired):
    code = "card_declined"
    title = "Card declined"


class PaymentProviderError(BadGateway):
    code = "payment_provider_unavailable"
    title = "Payment provider unavailable"


class InvalidSignature(ShopError):
    code = "invalid_signature"
    title = "Invalid webhook signature"


class RefundExceedsPayment(Conflict):
    code = "refund_exceeds_payment"
    title = "Refund exceeds what is left of the payment"


class UnknownPaymentProvider(NotFound):
    code = "unknown_payment_provider"
    title = "Unknown payment provider"
