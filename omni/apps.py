from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig
from django.utils.translation import gettext_lazy as _


class OmniConfig(AppConfig):
    name = "omni"
    label = "omni"
    verbose_name = _("Omni")

    def ready(self):
        from django.db.backends.signals import connection_created

        from omni.sql import use_fast_timestamps

        connection_created.connect(use_fast_timestamps, dispatch_uid="omni-fast-timestamps")


class OmniAdminConfig(AdminConfig):
    """The Django admin, with Omni's site (allauth sign-in, dashboard) as the default site."""

    default_site = "omni.admin_site.OmniAdminSite"
