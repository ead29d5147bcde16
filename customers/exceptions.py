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


class TooManyPhoneVerifications(CustomerError):
    """Too many codes asked for one profile or one phone: nobody may SMS-bomb a number."""

    code = "too_many_verifications"
    status_code = 429
    default_message = _("Too many verification codes requested: try again in an hour.")


class PhoneVerificationNotFound(NotFound):
    code = "phone_verification_not_found"
    default_message = _("No verification code was sent to this phone: ask for one first.")


class WrongPhoneCode(CustomerError):
    code = "wrong_phone_code"
    default_message = _("The verification code does not match.")


class PhoneCodeExpired(CustomerError):
    code = "phone_code_expired"
    default_message = _("The verification code has expired: ask for a new one.")


class PhoneCodeUsed(Conflict):
    code = "phone_code_used"
    default_message = _("This verification code was already used.")


class TooManyCodeAttempts(CustomerError):
    code = "too_many_attempts"
    status_code = 429
    default_message = _("Too many wrong codes: ask for a new one.")
