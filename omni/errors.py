"""Error pages: JSON in the API's error format under /api/, HTML elsewhere."""

from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.utils.translation import gettext as _
from django.views import defaults

from omni.api.exceptions import RequestTooLarge, error_body


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def bad_request(request, exception=None):
    """Django's 400s (a body read before DRF parses it, e.g. by a middleware, that is over
    DATA_UPLOAD_MAX_MEMORY_SIZE; too many form fields; a suspicious request)."""
    if not _is_api(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        too_large = RequestTooLarge()
        body = error_body(too_large.default_code, too_large.detail)
        return JsonResponse(body, status=too_large.status_code)
    return JsonResponse(error_body("bad_request", _("Bad request.")), status=400)


def not_found(request, exception=None):
    if _is_api(request):
        return JsonResponse(error_body("not_found", "Not found."), status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if _is_api(request):
        return JsonResponse(error_body("server_error", "Internal server error."), status=500)
    return defaults.server_error(request)
