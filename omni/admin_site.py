from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.utils.translation import gettext_lazy as _


class OmniAdminSite(admin.AdminSite):
    """The back-office. Sign-in goes through allauth so MFA (TOTP) applies to the admin too."""

    site_header = _("Omni back-office")
    site_title = _("Omni")
    index_title = _("Dashboard")

    def index(self, request, extra_context=None):
        from omni.dashboard import collect_panels

        extra_context = {**(extra_context or {}), "panels": collect_panels(request)}
        return super().index(request, extra_context)

    def login(self, request, extra_context=None):
        return secure_admin_login(super().login)(request, extra_context)
