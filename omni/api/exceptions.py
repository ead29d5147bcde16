"""One exception handler for the whole API.

Every error leaves as ``{"error": {"code": ..., "message": ..., "fields": {...}}}`` with a 4xx
status: DRF's own exceptions, validation errors (from serializers and django-filter), Django's
Http404/PermissionDenied/ValidationError, a body over DATA_UPLOAD_MAX_MEMORY_SIZE (413), a delete
refused by a protected foreign key (409) and the apps' ``DomainError`` subclasses. No message or
field echoes more than a short prefix of what the client sent.
"""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from omni.exceptions import Conflict, DomainError
from omni.text import MESSAGE_LENGTH, shorten


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = _lazy("The request body is too large.")
    default_code = "too_large"


class InUse(Conflict):
    code = "in_use"


def _in_use(exc: ProtectedError | RestrictedError) -> InUse:
    """A delete refused by protected foreign keys, naming what depends on the object."""
    objects = exc.protected_objects if isinstance(exc, ProtectedError) else exc.restricted_objects
    names = sorted({str(obj._meta.verbose_name_plural) for obj in objects})
    return InUse(
        _("It cannot be deleted while other records refer to it: %(dependents)s.")
        % {"dependents": ", ".join(names)},
        fields={"dependents": names},
    )


def _flatten(detail):
    """DRF error detail → plain strings/lists/dicts."""
    if isinstance(detail, dict):
        return {str(k): _flatten(v) for k, v in detail.items()}
    if isinstance(detail, list):
        return [_flatten(v) for v in detail]
    return str(detail)


def _first_message(fields):
    for name, value in fields.items():
        while isinstance(value, (list, dict)) and value:
            value = value[0] if isinstance(value, list) else next(iter(value.values()))
        if name in ("non_field_errors", "__all__"):
            return str(value)
        return f"{name}: {value}"
    return _("Invalid input.")


def _echo_safe(value):
    """Fields with every key and string shortened (and printable in UTF-8)."""
    if isinstance(value, dict):
        return {shorten(k): _echo_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_echo_safe(v) for v in value]
    return shorten(value, MESSAGE_LENGTH) if isinstance(value, str) else value


def error_body(code, message, fields=None):
    return {
        "error": {
            "code": code,
            "message": shorten(message, MESSAGE_LENGTH),
            "fields": _echo_safe(fields or {}),
        }
    }


def _translate(exc):
    """Django's and the database's exceptions → the DRF or domain exception they mean."""
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "message_dict"):
            return exceptions.ValidationError(exc.message_dict)
        return exceptions.ValidationError({"non_field_errors": exc.messages})
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied()
    if isinstance(exc, RequestDataTooBig):
        return RequestTooLarge()
    if isinstance(exc, ProtectedError | RestrictedError):
        return _in_use(exc)
    return exc


def exception_handler(exc, context):
    exc = _translate(exc)
    if isinstance(exc, DomainError):
        response = Response(
            error_body(exc.code, exc.message, _flatten(exc.fields)), status=exc.status_code
        )
        return response

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # unexpected: Django logs it and answers 500

    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail
        if isinstance(detail, list):
            fields = {"non_field_errors": _flatten(detail)}
        else:
            fields = _flatten(detail)
        response.data = error_body("invalid", _first_message(fields), fields)
        response.status_code = status.HTTP_400_BAD_REQUEST
    else:
        code = exc.get_codes() if hasattr(exc, "get_codes") else "error"
        if not isinstance(code, str):
            code = getattr(exc, "default_code", "error")
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        message = detail if isinstance(detail, str) else _first_message(_flatten(detail))
        response.data = error_body(code, message)
    return response
