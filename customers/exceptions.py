from django.utils.translation import gettext_lazy as _

from omni.exceptions import Conflict, DomainError, NotFound


class CustomerError(DomainError):
    code = "customer_error"


class InvalidIdentifier(CustomerError):
    code = "invalid_identifier"
    default_message = _("The identifier is not valid.")


class CustomerNotLive(Conflict):
    code = "customer_not_live"
    default_message = _("This customer profile was merged or erased.")


class MergeRefused(Conflict):
    code = "merge_refused"
    default_message = _("These profiles cannot be merged.")


class CustomerNotFound(NotFound):
    code = "customer_not_found"
    default_message = _("No such customer.")


class ProfileClaimed(DomainError):
    """A device id or a cart token reached a profile someone proved (an account, a verified
    e-mail or phone, a card): only that person, signed in, may use it."""

    code = "sign_in_required"
    status_code = 403
    default_message = _("This belongs to a customer account: sign in to use it.")
