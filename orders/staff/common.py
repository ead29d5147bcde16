"""What the staff pages share: the admin's frame, the scoped order, redirects, the hold clock."""

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from orders import rules
from orders.models import Order
from orders.selectors import orders_for_user


def page_context(admin_site, request, title, **extra) -> dict:
    """The admin's context (site header, sidebar, language switch) for a staff page."""
    return {**admin_site.each_context(request), "opts": Order._meta, "title": title, **extra}


def scoped_order(request, pk) -> Order:
    """The order, if the user may see it: another store's order is a 404, as if absent."""
    order = (
        orders_for_user(request.user).select_related("customer", "location").filter(pk=pk).first()
    )
    if order is None:
        raise Http404(_("No such order."))
    return order


def acting_order(request, pk) -> Order:
    """The order a user acts on: the permission first (403), then the store scope (404)."""
    if not rules.may_act_on_orders(request.user):
        raise PermissionDenied
    return scoped_order(request, pk)


def change_url(order: Order) -> str:
    return reverse("admin:orders_order_change", args=[order.pk])


def next_or_order(request, order: Order) -> HttpResponseRedirect:
    """Back to ``next`` (the desk) when it is a safe local address, else to the order."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return HttpResponseRedirect(target)
    return HttpResponseRedirect(change_url(order))


def time_left(until, now) -> str:
    """``2 days 3 h left`` / ``overdue by 5 h 10 min``, for the desk's ready queue."""
    seconds = int((until - now).total_seconds())
    overdue, seconds = seconds < 0, abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, minutes = rest // 3600, rest % 3600 // 60
    if days:
        span = (
            ngettext("%(n)s day", "%(n)s days", days) % {"n": days}
            + " "
            + _("%(h)s h") % {"h": hours}
        )
    elif hours:
        span = _("%(h)s h %(m)s min") % {"h": hours, "m": minutes}
    else:
        span = _("%(m)s min") % {"m": minutes}
    return (_("overdue by %(span)s") if overdue else _("%(span)s left")) % {"span": span}
