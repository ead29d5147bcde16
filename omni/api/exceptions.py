"""One exception handler for the whole API.

Every error leaves as ``{"error": {"code": ..., "message": ..., "fields": {...}}}`` with a 4xx
status: DRF's own exceptions, validation errors (from serializers and django-filter), Django's
Http404/PermissionDenied/ValidationError and the apps' ``DomainError`` subclasses.
"""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from omni.exceptions import DomainError


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


def error_body(code, message, fields=None):
    return {"error": {"code": code, "message": str(message), "fields": fields or {}}}


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        response = Response(
            error_body(exc.code, exc.message, _flatten(exc.fields)), status=exc.status_code
        )
        return response
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "message_dict"):
            exc = exceptions.ValidationError(exc.message_dict)
        else:
            exc = exceptions.ValidationError({"non_field_errors": exc.messages})
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

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
