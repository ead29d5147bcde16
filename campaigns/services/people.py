"""A campaign's rows follow the person (``customers_merged``) and lose their personal data when
the person is erased (``customer_erased``); both run inside customers' transaction.

Neither ever waits for a delivery a worker is sending (``locks.deliveries_of_customers`` skips
locked rows): the sender may be waiting for the customer rows that customers' transaction
holds, so waiting here could deadlock. A row being sent at that moment is left as it is; the
sender marks it, and it is history.
"""

from django.db.models import Exists, OuterRef
from django.utils import timezone

from campaigns import locks
from campaigns.models import Delivery, DeliveryReason, DeliveryStatus


def move_deliveries_on_merge(*, survivor, absorbed) -> None:
    """The absorbed profile's deliveries become the survivor's where the survivor has none for
    that campaign step (uploaded lists: ``audience_upload.move_audience_on_merge``); where it has one, the absorbed profile's
    queued row is suppressed (``duplicate``): one message per person per step."""
    pks = locks.deliveries_of_customers([absorbed.pk])
    rows = Delivery.objects.filter(pk__in=pks)
    survivors_step = Delivery.objects.filter(
        customer=survivor, campaign=OuterRef("campaign"), step=OuterRef("step")
    )
    rows.filter(~Exists(survivors_step)).update(customer=survivor)
    rows.filter(customer=absorbed, status=DeliveryStatus.QUEUED).update(
        status=DeliveryStatus.SUPPRESSED, reason=DeliveryReason.DUPLICATE, updated_at=timezone.now()
    )


def strip_deliveries_on_erasure(*, customer_ids) -> None:
    """Erasure: the addresses leave the deliveries (the rows stay, without personal data, for
    the campaign's counts); queued ones will never be sent (``no_address``)."""
    rows = Delivery.objects.filter(pk__in=locks.deliveries_of_customers(customer_ids))
    rows.filter(status=DeliveryStatus.QUEUED).update(
        status=DeliveryStatus.SUPPRESSED, reason=DeliveryReason.NO_ADDRESS
    )
    rows.exclude(address="", coupon_code="").update(
        address="", coupon_code="", updated_at=timezone.now()
    )
