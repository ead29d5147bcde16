from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


def _check_database() -> str:
    try:
        connection.ensure_connection()
        usable = connection.is_usable()  # a round trip to the server
    except Exception as exc:
        return f"error: {exc.__class__.__name__}"
    return "ok" if usable else "error: connection unusable"


def _check_broker() -> str:
    if not settings.CELERY_BROKER_URL:
        return "not configured (tasks run in-process)"
    from omni.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=settings.HEALTH_BROKER_TIMEOUT)
    except Exception as exc:
        return f"error: {exc.__class__.__name__}"
    return "ok"


@never_cache
@require_GET
def health(request):
    """Liveness and readiness: database and, when configured, the Celery broker."""
    checks = {"database": _check_database(), "broker": _check_broker()}
    healthy = all(not value.startswith("error") for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", "checks": checks},
        status=200 if healthy else 503,
    )
