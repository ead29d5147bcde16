"""Admin dashboard panel: the pickup desk's queues for the user's stores, with a link to the desk."""

from django.utils.translation import gettext as _

from orders import rules
from orders.selectors import pickup_desk


def panel(request):
    user = request.user
    if not user.has_perm("orders.view_order"):
        return None
    if not rules.desk_stores(user).exists():
        return None
    return {
        "id": "pickup-desk",
        "title": _("Pickup desk"),
        "template": "admin/orders/dashboard_desk.html",
        **{name: queue.count() for name, queue in pickup_desk(user).items()},
    }
