"""What the shopper hears about a pickup order: ready (with the code and the store's hours), the
reminder the day before it expires, and the expiry. Sent through ``omni.messaging`` after commit,
by e-mail and SMS to the customer's known addresses (a transactional message: no marketing
consent needed).

Each message is written in the shopper's language (``Customer.preferred_language``, else
``settings.LANGUAGE_CODE``), never in the language of the staff member whose click sent it."""

import zoneinfo

from django.conf import settings
from django.utils import formats, translation
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from customers.models import IdentityKind
from inventory.models import WEEKDAYS
from omni import messaging
from orders.models import Order

DAY_NAMES = {
    "mon": translation.gettext_lazy("Mon"),
    "tue": translation.gettext_lazy("Tue"),
    "wed": translation.gettext_lazy("Wed"),
    "thu": translation.gettext_lazy("Thu"),
    "fri": translation.gettext_lazy("Fri"),
    "sat": translation.gettext_lazy("Sat"),
    "sun": translation.gettext_lazy("Sun"),
}


def opening_hours_text(hours: dict) -> str:
    if not hours:
        return _("Open every day.")
    parts = []
    for day in WEEKDAYS:
        ranges = hours.get(day) or []
        text = (
            ", ".join(f"{a}–{b}" for a, b in ranges)
            if ranges
            else pgettext("opening hours", "closed")
        )
        parts.append(f"{DAY_NAMES[day]} {text}")
    return "; ".join(parts)


def _addresses(order: Order) -> list[tuple[str, str]]:
    """(channel, address): the latest e-mail and phone of the customer."""
    found = {}
    for kind, value in (
        order.customer.identities.filter(kind__in=[IdentityKind.EMAIL, IdentityKind.PHONE])
        .order_by("-verified", "-last_seen_at", "-pk")
        .values_list("kind", "value")
    ):
        found.setdefault(kind, value)
    result = []
    if IdentityKind.EMAIL in found:
        result.append(("email", found[IdentityKind.EMAIL]))
    if IdentityKind.PHONE in found:
        result.append(("sms", found[IdentityKind.PHONE]))
    return result


def _send(order: Order, subject: str, body: str) -> int:
    addresses = _addresses(order)
    for channel, address in addresses:
        messaging.send(channel=channel, to=address, subject=subject, body=body)
    return len(addresses)


def shopper_language(customer) -> str:
    """The language to write to this customer in: theirs if the site speaks it."""
    language = getattr(customer, "preferred_language", "") or ""
    return language if language in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE


def _local(order: Order, moment) -> str:
    local = moment.astimezone(zoneinfo.ZoneInfo(order.location.timezone))
    return formats.date_format(local, "DATETIME_FORMAT")


def ready_for_pickup(order_id: int, code: str) -> int:
    order = Order.objects.select_related("location", "customer").get(pk=order_id)
    with translation.override(shopper_language(order.customer)):
        subject, body = _ready_text(order, code)
    return _send(order, subject, body)


def _ready_text(order: Order, code: str) -> tuple[str, str]:
    store = order.location
    subject = _("Your order %(number)s is ready at %(store)s") % {
        "number": order.number,
        "store": store.name,
    }
    body = _(
        "Your order %(number)s is ready for pickup at %(store)s, %(address)s.\n"
        "Pickup code: %(code)s\n"
        "Opening hours: %(hours)s\n"
        "We keep it until %(until)s."
    ) % {
        "number": order.number,
        "store": store.name,
        "address": ", ".join(p for p in (store.address, store.city) if p),
        "code": code,
        "hours": opening_hours_text(store.opening_hours),
        "until": _local(order, order.hold_until),
    }
    return subject, body


def reminder(order_id: int) -> int:
    order = Order.objects.select_related("location", "customer").get(pk=order_id)
    with translation.override(shopper_language(order.customer)):
        subject = _("Last day to collect order %(number)s") % {"number": order.number}
        body = _(
            "Your order %(number)s waits for you at %(store)s until %(until)s. "
            "Bring your pickup code."
        ) % {
            "number": order.number,
            "store": order.location.name,
            "until": _local(order, order.hold_until),
        }
    return _send(order, subject, body)


def expired(order_id: int) -> int:
    order = Order.objects.select_related("location", "customer").get(pk=order_id)
    with translation.override(shopper_language(order.customer)):
        subject = _("Order %(number)s was not collected") % {"number": order.number}
        body = _(
            "Your order %(number)s was not collected at %(store)s in time and has been "
            "cancelled. If you paid online, the money is on its way back to you."
        ) % {"number": order.number, "store": order.location.name}
    return _send(order, subject, body)
