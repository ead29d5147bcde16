"""Base class for the domain exceptions every app raises from its services.

Each subclass carries a stable machine-readable ``code`` and the HTTP status the API maps it to;
the API's exception handler (``omni.api.exceptions``) turns it into the common error body.
"""

from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    code = "error"
    status_code = 400
    default_message = _("The request could not be processed.")

    def __init__(self, message=None, *, code=None, fields=None, **context):
        self.message = str(message if message is not None else self.default_message)
        if code:
            self.code = code
        self.fields = fields or {}
        self.context = context
        super().__init__(self.message)


class NotFound(DomainError):
    code = "not_found"
    status_code = 404
    default_message = _("Not found.")


class Conflict(DomainError):
    code = "conflict"
    status_code = 409
    default_message = _("The request conflicts with the current state.")


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    status_code = 422
    default_message = _("This Idempotency-Key was already used with a different request.")


class InvalidIdempotencyKey(DomainError):
    code = "invalid_idempotency_key"
    status_code = 400
    default_message = _("The Idempotency-Key header must be 1 to 255 printable characters.")
