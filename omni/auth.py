from allauth.account.adapter import DefaultAccountAdapter


class StaffAccountAdapter(DefaultAccountAdapter):
    """Staff accounts are created by back-office admins in the admin: the browser sign-up page
    is closed. Shoppers sign up through the headless API (``/_allauth/...``) used by the
    storefront and the app."""

    def is_open_for_signup(self, request):
        return bool(request is not None and request.path.startswith("/_allauth/"))
