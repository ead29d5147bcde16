from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self):
        from customers.models import Customer
        from customers.signals import customer_erased, customers_merged

        customers_merged.connect(
            _move_to_survivor, sender=Customer, dispatch_uid="campaigns.move_on_merge"
        )
        customer_erased.connect(_strip, sender=Customer, dispatch_uid="campaigns.strip")

        from orders.models import Cart, Order
        from orders.signals import cart_abandoned, order_placed

        order_placed.connect(_order_placed, sender=Order, dispatch_uid="campaigns.order_placed")
        cart_abandoned.connect(
            _carts_abandoned, sender=Cart, dispatch_uid="campaigns.carts_abandoned"
        )


def _carts_abandoned(sender, cart_ids, **kwargs):
    """Sent after the idle sweep's commit: the carts enter the abandoned-cart journey."""
    from campaigns.tasks import enter_abandoned_carts_task

    enter_abandoned_carts_task.delay(list(cart_ids))


def _order_placed(sender, order_id, **kwargs):
    """Sent after the order's commit: attribution and journey exits in a task."""
    from campaigns.tasks import order_placed_task

    order_placed_task.delay(order_id)


def _move_to_survivor(sender, survivor, absorbed, **kwargs):
    from campaigns.services.audience_upload import move_audience_on_merge
    from campaigns.services.people import move_deliveries_on_merge

    move_deliveries_on_merge(survivor=survivor, absorbed=absorbed)
    move_audience_on_merge(survivor=survivor, absorbed=absorbed)


def _strip(sender, customer, customer_ids=(), **kwargs):
    from campaigns.services.audience_upload import drop_audience_on_erasure
    from campaigns.services.people import strip_deliveries_on_erasure

    people = [customer.pk, *customer_ids]
    strip_deliveries_on_erasure(customer_ids=people)
    drop_audience_on_erasure(customer_ids=people)
