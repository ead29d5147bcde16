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
        customer_erased.connect(
            _forget_erased, sender=Customer, dispatch_uid="campaigns.forget_erased"
        )


def _move_to_survivor(sender, survivor, absorbed, **kwargs):
    from campaigns.services.audience_upload import move_audience_on_merge

    move_audience_on_merge(survivor=survivor, absorbed=absorbed)


def _forget_erased(sender, customer, customer_ids=(), **kwargs):
    from campaigns.services.audience_upload import drop_audience_on_erasure

    drop_audience_on_erasure(customer_ids=[customer.pk, *customer_ids])
