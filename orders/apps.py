from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = _("Orders")

    def ready(self):
        from customers.models import Customer
        from customers.signals import customers_merged

        customers_merged.connect(
            _move_carts, sender=Customer, dispatch_uid="orders.move_carts_on_merge"
        )


def _move_carts(sender, survivor, absorbed, **kwargs):
    from orders.services import move_carts_on_merge

    move_carts_on_merge(survivor=survivor, absorbed=absorbed)
