from django.utils.translation import gettext_lazy as _

from omni.exceptions import Conflict, DomainError


class InventoryError(DomainError):
    code = "inventory_error"


class InvalidQuantity(InventoryError):
    code = "invalid_quantity"
    default_message = _("Quantities must be whole numbers above zero.")


class InsufficientStock(Conflict):
    code = "insufficient_stock"
    default_message = _("Insufficient stock.")


class LocationNotSellingOnline(InventoryError):
    code = "location_not_selling_online"
    default_message = _("This location does not sell online.")


class ReservationNotActive(Conflict):
    code = "reservation_not_active"
    default_message = _("The reservation is no longer active.")


class InvalidTransferState(Conflict):
    code = "invalid_transfer_state"
    default_message = _("The transfer cannot do that in its current state.")


class CountBelowReserved(Conflict):
    code = "count_below_reserved"
    default_message = _("The counted quantity is below the units reserved for customers.")


class StockCountImportInvalid(InventoryError):
    code = "stock_count_invalid"
    default_message = _("The stock count has errors; nothing was applied.")

    def __init__(self, errors, **kwargs):
        self.errors = errors
        super().__init__(fields={"rows": [f"{line}: {msg}" for line, msg in errors]}, **kwargs)
