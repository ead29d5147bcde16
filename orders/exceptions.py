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
