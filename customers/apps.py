from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    name = "customers"
    verbose_name = _("Customers")

    def ready(self):
        from allauth.account.signals import email_confirmed

        email_confirmed.connect(_link_confirmed_email, dispatch_uid="customers.email_confirmed")


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
