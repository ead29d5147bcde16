"""Refuse API requests whose path, query string or headers hold text PostgreSQL cannot store.

The body is checked by the parsers (``omni.api.parsers``); this covers the rest of the request
that views use as data (``X-Cart-Token``, ``Idempotency-Key``, a token, the user agent kept as
consent evidence, filters, an order number in the path) before any view or authentication
runs: a 400 in the API's error format naming where.
"""

from django.http import JsonResponse
from django.utils.translation import gettext as _

from omni.api.exceptions import error_body
from omni.text import UNSTORABLE


def _header_name(meta_key: str) -> str:
    return meta_key.removeprefix("HTTP_").replace("_", "-").title()


def unstorable_part(request) -> str | None:
    """Where the request's path, query string or headers hold a NUL or lone surrogate."""
    search = UNSTORABLE.search
    if search(request.path):
        return "path"
    for key, values in request.GET.lists():
        if search(key) or any(search(value) for value in values):
            return f"query.{key}"
    for key, value in request.META.items():
        if key.startswith("HTTP_") and isinstance(value, str) and search(value):
            return f"header.{_header_name(key)}"
    return None


class UnstorableInputMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/"):
            where = unstorable_part(request)
            if where is not None:
                message = _("Null characters and lone surrogates are not allowed.")
                body = error_body("invalid", f"{where}: {message}", {where: [message]})
                return JsonResponse(body, status=400)
        return self.get_response(request)
