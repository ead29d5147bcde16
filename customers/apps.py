from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    name = "customers"
    verbose_name = _("Customers")

    def ready(self):
        from allauth.account.signals import email_confirmed

        from customers.models import Customer
        from customers.signals import customer_erased, customers_merged

        email_confirmed.connect(_link_confirmed_email, dispatch_uid="customers.email_confirmed")
        customers_merged.connect(
            _move_phone_verifications, sender=Customer, dispatch_uid="customers.phones_on_merge"
        )
        customer_erased.connect(
            _erase_phone_verifications, sender=Customer, dispatch_uid="customers.phones_on_erase"
        )


def _link_confirmed_email(sender, email_address, **kwargs):
    """allauth confirmed an account's e-mail: the profiles that typed it (a guest's past orders)
    join the account's profile. Staff accounts have no shopper profile."""
    from customers import services

    user = email_address.user
    if user.is_staff:
        return
    services.link_verified_identifier(
        customer=services.customer_for_user(user), kind="email", value=email_address.email
    )


def _move_phone_verifications(sender, survivor, absorbed, **kwargs):
    """Pending codes and the hourly count follow the profile (merge_customers moves the rest)."""
    from customers.models import PhoneVerification

    PhoneVerification.objects.filter(customer=absorbed).update(customer=survivor)


def _erase_phone_verifications(sender, customer, customer_ids=(), **kwargs):
    """GDPR erasure: the phones that were sent codes go with the identities."""
    from customers.models import PhoneVerification

    PhoneVerification.objects.filter(customer_id__in=[customer.pk, *customer_ids]).delete()
