"""Public pages of the customers app: the double opt-in confirmation link."""

from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from customers import services
from customers.exceptions import InvalidIdentifier
from omni.network import client_address


@require_http_methods(["GET", "POST"])
def confirm_consent(request, token: str):
    """GET shows a button (mail scanners prefetch links); POST records the confirmation."""
    if request.method == "GET":
        return render(request, "customers/confirm_consent.html", {"token": token})
    try:
        services.confirm_consent(
            token=token,
            evidence={
                "ip": client_address(request),
                "user_agent": request.META.get("HTTP_USER_AGENT", "")[:200],
            },
        )
    except InvalidIdentifier as exc:
        return render(request, "customers/confirm_consent.html", {"error": exc.message}, status=400)
    return render(request, "customers/confirm_consent.html", {"done": True})
