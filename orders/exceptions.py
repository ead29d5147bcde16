from django.utils.translation import gettext_lazy as _

from omni.exceptions import Conflict, DomainError, NotFound


class OrderError(DomainError):
    code = "order_error"


class InvalidCartLine(OrderError):
    code = "invalid_cart_line"
    default_message = _("This line cannot go in the cart.")


class NotEnoughToSell(Conflict):
    code = "insufficient_stock"
    default_message = _("Not enough units can be sold online.")


class CartNotFound(NotFound):
    code = "cart_not_found"
    default_message = _("No open cart with this token.")


class EmptyCart(OrderError):
    code = "empty_cart"
    default_message = _("The cart is empty.")


class InvalidCheckout(OrderError):
    code = "invalid_checkout"
    default_message = _("The order cannot be placed as given.")


class NotAPickupPoint(OrderError):
    code = "not_a_pickup_point"
    default_message = _("This location is not a pickup point.")


class InvalidOrderState(Conflict):
    code = "invalid_order_state"
    default_message = _("The order cannot do that in its current state.")


class WrongPickupCode(OrderError):
    code = "wrong_pickup_code"
    default_message = _("The pickup code does not match.")


class TooManyAttempts(OrderError):
    code = "too_many_attempts"
    status_code = 429
    default_message = _("Too many wrong codes: try again later or check the shopper's identity.")


class OrderNotFound(NotFound):
    code = "order_not_found"
    default_message = _("No such order.")


class InvalidReturn(OrderError):
    code = "invalid_return"
    default_message = _("This return is not possible.")


class CartNotYours(DomainError):
    code = "cart_not_yours"
    status_code = 403
    default_message = _(
        "This cart belongs to another customer: drop the X-Cart-Token to use your own cart."
    )


class IdempotencyKeyRequired(DomainError):
    code = "idempotency_key_required"
    status_code = 400
    default_message = _("Send an Idempotency-Key header: this write must be safe to retry.")


class NotYourStore(DomainError):
    code = "not_your_store"
    status_code = 403
    default_message = _("You may not sell at this store.")


class InvalidPromotion(OrderError):
    code = "invalid_promotion"
    default_message = _("The promotion is not valid.")


class InvalidCouponBatch(OrderError):
    code = "invalid_coupon_batch"
    default_message = _("These codes cannot be issued.")
