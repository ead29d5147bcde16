"""The one way an API view runs a write that clients may retry (``Idempotency-Key`` header)."""

from collections.abc import Callable

from rest_framework.response import Response

from omni.idempotency import HEADER, clean_key, fingerprint, run_idempotent


def idempotent_response(request, *, scope: str, action: Callable[[], tuple[int, dict]]) -> Response:
    """Run ``action`` once per (scope, user, key); a retry replays the stored response.

    Without the header the write simply runs. The same key with a different body is a 422.
    """
    key = clean_key(request.headers.get(HEADER))
    user = request.user.pk if request.user.is_authenticated else "anon"
    result = run_idempotent(
        scope=f"{scope}:{user}",
        key=key,
        request_fingerprint=fingerprint(request.method, request.path, request.data),
        action=action,
    )
    response = Response(result.body, status=result.status_code)
    if result.replayed:
        response["Idempotent-Replayed"] = "true"
    return response
