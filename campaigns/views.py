"""Shopper-facing tracking endpoints and the e-mail provider's webhook (thin: checks, then a
service).

* ``unsubscribe`` (``/c/u/<token>/``): GET asks "Unsubscribe <masked address> from …?", POST
  withdraws the channel's marketing consent (``customers.services.withdraw_marketing``,
  idempotent). The POST is CSRF-exempt on purpose: RFC 8058 one-click unsubscribe
  (``List-Unsubscribe=One-Click``) comes from the mailbox provider without a session, and the
  signed token is the proof. Pages speak the customer's preferred language; a merged profile is
  followed to its survivor, an erased one gets a page and no change.
* ``EmailWebhookView`` (``/c/webhooks/email/``): see ``campaigns.webhooks``.
* ``open_pixel`` (``/c/o/<token>.gif``): a 1×1 GIF, always 200 and never cached; a valid token
  marks its delivery opened (``campaigns.engagement``), any other changes nothing.
* ``click`` (``/c/c/<token>/``): a valid token marks the delivery clicked and redirects (302) to
  the signed target with its UTM tags; a tampered one is a 400 page and changes nothing.
"""

from django.conf import settings
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns import engagement, tracking, webhooks
from customers import selectors as customer_selectors
from customers import services as customer_services
from customers.exceptions import CustomerNotLive
from customers.models import ConsentChannel, ConsentSource, IdentityKind
from omni.api.exceptions import RequestTooLarge
from omni.api.parsers import JSONParser
from omni.network import client_address
from omni.text import shorten

TEMPLATE = "campaigns/unsubscribe.html"
# Token channel → (consent channel, identity kind of its address or None).
UNSUBSCRIBABLE = {
    "email": (ConsentChannel.EMAIL, IdentityKind.EMAIL),
    "sms": (ConsentChannel.SMS, IdentityKind.PHONE),
    "push": (ConsentChannel.PUSH, None),
}
WEBHOOK_MAX_BYTES = 512 * 1024
# The smallest transparent GIF: 1×1, one colour, no extension blocks (43 bytes).
PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff"
    b"!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)


def mask(kind: str, value: str) -> str:
    """Enough of an address for its owner to recognise it: ``a•••@example.com``, ``+34•••••222``."""
    if kind == IdentityKind.EMAIL:
        local, _at, domain = value.partition("@")
        return f"{local[:1]}•••@{domain}"
    return f"{value[:3]}•••••{value[-3:]}"


def _question(channel: str, address: str | None) -> str:
    if channel == "push":
        return _("Stop marketing push notifications?")
    if address is None:
        if channel == "sms":
            return _("Unsubscribe from marketing text messages?")
        return _("Unsubscribe from marketing e-mails?")
    if channel == "sms":
        return _("Unsubscribe %(address)s from marketing text messages?") % {"address": address}
    return _("Unsubscribe %(address)s from marketing e-mails?") % {"address": address}


def _farewell(channel: str) -> str:
    return {
        "email": _("You will not receive marketing e-mails from us any more."),
        "sms": _("You will not receive marketing text messages from us any more."),
        "push": _("You will not receive marketing push notifications from us any more."),
    }[channel]


def _page(request, state: str, *, status: int = 200, language: str | None = None, **context):
    """Render the page in ``language`` (the customer's), else the request's."""
    with translation.override(language or translation.get_language()):
        response = render(request, TEMPLATE, {"state": state, **context}, status=status)
        response["Content-Language"] = translation.get_language()
    response["Referrer-Policy"] = "no-referrer"  # the token is in the URL
    response["X-Robots-Tag"] = "noindex"
    return response


def _evidence(request, campaign_id: int, channel: str) -> dict:
    return {
        "campaign": campaign_id,
        "channel": channel,
        "one_click": request.POST.get("List-Unsubscribe") == "One-Click",
        "ip": client_address(request),
        "user_agent": shorten(request.META.get("HTTP_USER_AGENT", ""), 200),
    }


@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe(request, token: str):
    try:
        customer_id, channel, campaign_id = tracking.verify_unsubscribe_token(token)
    except tracking.BadToken:
        return _page(request, "invalid", status=400)
    if channel not in UNSUBSCRIBABLE:
        return _page(request, "invalid", status=400)
    customer = customer_selectors.profile_after_merges(customer_id)
    if customer is None:
        return _page(request, "invalid", status=404)
    language = customer.preferred_language
    if not customer.is_live:
        return _page(request, "gone", language=language)
    consent_channel, kind = UNSUBSCRIBABLE[channel]
    if request.method == "POST":
        try:
            customer_services.withdraw_marketing(
                customer=customer,
                channel=consent_channel,
                source=ConsentSource.UNSUBSCRIBE_LINK,
                evidence=_evidence(request, campaign_id, channel),
            )
        except CustomerNotLive:  # merged or erased since the lookup
            return _page(request, "gone", language=language)
        with translation.override(language):
            farewell = _farewell(channel)
        return _page(request, "done", language=language, farewell=farewell)
    address = kind and customer_selectors.contact_address(customer, kind)
    with translation.override(language):
        question = _question(channel, mask(kind, address) if address else None)
    return _page(request, "ask", language=language, question=question)


class EmailWebhookView(APIView):
    """Bounces and complaints from the e-mail provider, signed with ``X-Omni-Signature``
    (``settings.CAMPAIGN_WEBHOOK_SECRET``; empty: the webhook is disabled, every call 403)."""

    authentication_classes = []
    permission_classes = []
    throttle_classes = []
    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]

    @extend_schema(exclude=True)
    def post(self, request):
        body = _webhook_body(request)
        try:
            tracking.verify_webhook_signature(
                body, request.headers.get("X-Omni-Signature"), settings.CAMPAIGN_WEBHOOK_SECRET
            )
        except tracking.BadWebhookSignature:
            raise exceptions.PermissionDenied(
                _("The webhook signature is missing or not valid."), code="bad_signature"
            ) from None
        events = webhooks.parse_events(request.data)
        return Response(webhooks.apply_events(events))


def _webhook_body(request) -> bytes:
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > WEBHOOK_MAX_BYTES:
        raise RequestTooLarge()
    body = request.body
    if len(body) > WEBHOOK_MAX_BYTES:
        raise RequestTooLarge()
    return body


@never_cache
@require_http_methods(["GET", "HEAD"])
def open_pixel(request, token: str):
    """The open pixel: the same GIF whatever happens (a mail client shows no error)."""
    try:
        delivery_id = tracking.verify_open_token(token)
    except tracking.BadToken:
        delivery_id = None
    if delivery_id is not None and request.method == "GET":
        engagement.record_open(delivery_id=delivery_id)
    response = HttpResponse(PIXEL, content_type="image/gif")
    response["Cache-Control"] = "no-store, no-cache, must-revalidate, max-age=0"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex"
    return response


@never_cache
@require_http_methods(["GET", "HEAD"])
def click(request, token: str):
    """A tracked link: record the click, then on to the target with its UTM tags."""
    try:
        delivery_id, target = tracking.verify_click_token(token)
    except tracking.BadToken:
        response = render(request, "campaigns/link_invalid.html", status=400)
        response["Referrer-Policy"] = "no-referrer"
        response["X-Robots-Tag"] = "noindex"
        return response
    if request.method == "GET":
        engagement.record_click(delivery_id=delivery_id)
    response = HttpResponseRedirect(target)
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex"
    return response
