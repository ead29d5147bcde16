from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = _("Orders")

    def ready(self):
        from customers.models import Customer
        from customers.signals import customer_erased, customers_merged
        from inventory.models import Transfer
        from inventory.signals import transfer_received

        customers_merged.connect(
            _move_to_survivor, sender=Customer, dispatch_uid="orders.move_on_merge"
        )
        customer_erased.connect(
            _strip_addresses, sender=Customer, dispatch_uid="orders.strip_addresses"
        )
        transfer_received.connect(
            _take_over_transfer, sender=Transfer, dispatch_uid="orders.take_over_transfer"
        )


def _move_to_survivor(sender, survivor, absorbed, **kwargs):
    from orders.models import Order
    from orders.services import move_carts_on_merge, move_coupons_on_merge

    move_carts_on_merge(survivor=survivor, absorbed=absorbed)
    move_coupons_on_merge(survivor=survivor, absorbed=absorbed)
    Order.objects.filter(customer=absorbed).update(customer=survivor)


def _strip_addresses(sender, customer, customer_ids=(), **kwargs):
    """GDPR erasure: orders stay for the books, without the shipping address."""
    from orders.models import Order

    Order.objects.filter(customer_id__in=[customer.pk, *customer_ids]).update(shipping_address={})


def _take_over_transfer(sender, transfer_id, **kwargs):
    from orders.services import take_over_transfer

    take_over_transfer(transfer_id=transfer_id)
