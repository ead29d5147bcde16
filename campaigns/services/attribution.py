"""Attribution: an order placed in any channel — web, app, marketplace or the store counter — is
credited to the campaign messages that came before it.

For an order of customer C at time T, the touches are C's deliveries made in the window
``settings.ATTRIBUTION_WINDOW`` before T, and the delivery whose personal coupon the order
redeemed, whatever its time (deterministic). Every such delivery gets one Conversion row
(unique per delivery and order; the order's advisory lock and a look for its rows make a second
run change nothing):

* a touch that reached the shopper before T (sent, opened, clicked; ``coupon`` for the one whose
  code was redeemed, ``click`` when clicked before T, else ``message``) shares the order under
  three models: last touch (default: all to the latest; a redeemed coupon is the latest
  whatever its time), first touch, linear (equal shares);
* a row that did not reach them — the holdout arm (``holdout``) or not sent (no consent,
  budget…) — gets no credit. It records that a customer assigned to the campaign bought in the
  window after being assigned, which is what uplift compares between the arms (intention to
  treat: ``campaigns.reports.uplift``).

Credited deliveries become ``converted``, and each credit is a ``campaign_conversion``
touchpoint on the customer's timeline.
"""

from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from campaigns import queries
from campaigns.models import (
    REACHED,
    Conversion,
    Delivery,
    DeliveryReason,
    DeliveryStatus,
    TouchKind,
)
from customers.models import EventType
from customers.services.profiles import record_messages_sent
from orders import selectors as order_selectors

SHARE = Decimal("0.0001")


@transaction.atomic
def attribute_order(*, order_id: int) -> int | None:
    """Credit the order to the deliveries before it; returns its customer's id (None when the
    order does not exist)."""
    order = order_selectors.order_facts(order_id)
    if order is None:
        return None
    queries.lock_order_attribution(order_id)
    if Conversion.objects.filter(order_id=order_id).exists():
        return order["customer_id"]  # credited already (a retried task)
    rows = _touches(order)
    if not rows:
        return order["customer_id"]
    conversions = _conversions(order, rows)
    Conversion.objects.bulk_create(conversions)
    credited = [c.delivery_id for c in conversions if _reached(c)]
    Delivery.objects.filter(pk__in=credited, status__in=REACHED).update(
        status=DeliveryStatus.CONVERTED, updated_at=timezone.now()
    )
    _on_timeline(order, conversions)
    return order["customer_id"]


def _reached(conversion: Conversion) -> bool:
    return conversion.touch in (TouchKind.COUPON, TouchKind.CLICK, TouchKind.MESSAGE)


def _touches(order: dict) -> list[Delivery]:
    placed: datetime = order["created_at"]
    window = Q(created_at__gte=placed - settings.ATTRIBUTION_WINDOW, created_at__lte=placed)
    if order["coupon_code"]:
        window |= Q(coupon_code=order["coupon_code"])
    rows = Delivery.objects.filter(window, customer_id=order["customer_id"]).exclude(
        Q(status__in=(DeliveryStatus.QUEUED, DeliveryStatus.FAILED)) & ~Q(reason="holdout")
    )
    return list(rows.order_by("created_at", "pk"))


def _kind(row: Delivery, order: dict) -> str:
    placed = order["created_at"]
    if order["coupon_code"] and row.coupon_code == order["coupon_code"]:
        return TouchKind.COUPON
    if row.reason == DeliveryReason.HOLDOUT:
        return TouchKind.HOLDOUT
    if row.sent_at is None or row.sent_at > placed or row.status not in REACHED:
        return TouchKind.ASSIGNED  # never reached them before the order: no credit
    if row.clicked_at is not None and row.clicked_at <= placed:
        return TouchKind.CLICK
    return TouchKind.MESSAGE


def _touch_time(row: Delivery, kind: str) -> datetime:
    if kind == TouchKind.CLICK:
        return row.clicked_at
    return row.sent_at or row.created_at


def _conversions(order: dict, rows: list[Delivery]) -> list[Conversion]:
    kinds = {row.pk: _kind(row, order) for row in rows}
    credited = [row for row in rows if kinds[row.pk] in (TouchKind.COUPON, *_TIMED)]
    credited.sort(
        key=lambda row: (kinds[row.pk] == TouchKind.COUPON, _touch_time(row, kinds[row.pk]))
    )
    shares = _shares(credited)
    return [
        Conversion(
            order_id=order["pk"],
            delivery_id=row.pk,
            campaign_id=row.campaign_id,
            customer_id=order["customer_id"],
            touch=kinds[row.pk],
            touched_at=_touch_time(row, kinds[row.pk]),
            order_channel=order["channel"],
            store_id=order["location_id"],
            revenue=order["total"],
            credit_last=shares.get(row.pk, (0, 0, 0))[0],
            credit_first=shares.get(row.pk, (0, 0, 0))[1],
            credit_linear=shares.get(row.pk, (0, 0, 0))[2],
        )
        for row in rows
    ]


_TIMED = (TouchKind.CLICK, TouchKind.MESSAGE)


def _shares(credited: list[Delivery]) -> dict[int, tuple[Decimal, Decimal, Decimal]]:
    """delivery id → (last, first, linear) share of the order; the touches in time order with
    a redeemed coupon last. Linear shares add up to 1 exactly (the rest on the last touch)."""
    if not credited:
        return {}
    n = len(credited)
    linear = (Decimal(1) / n).quantize(SHARE)
    shares = {row.pk: [Decimal(0), Decimal(0), linear] for row in credited}
    shares[credited[-1].pk][0] = Decimal(1)
    shares[credited[0].pk][1] = Decimal(1)
    shares[credited[-1].pk][2] += Decimal(1) - linear * n
    return {pk: tuple(values) for pk, values in shares.items()}


def _on_timeline(order: dict, conversions: list[Conversion]) -> None:
    credited = [c for c in conversions if c.credit_last or c.credit_first or c.credit_linear]
    record_messages_sent(
        sends=[
            (
                order["customer_id"],
                order["channel"],
                {
                    "campaign_id": c.campaign_id,
                    "delivery_id": c.delivery_id,
                    "order_id": order["pk"],
                    "touch": c.touch,
                    "revenue": str(order["total"]),
                },
            )
            for c in credited
        ],
        type=EventType.CAMPAIGN_CONVERSION,
    )
