"""The pickup desk: one store's queues (overdue, to pick, ready, awaiting a transfer) and the
code box that hands an order over by its number and pickup code."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from omni.exceptions import DomainError
from orders import rules, services
from orders.exceptions import TooManyAttempts
from orders.forms import DeskCollectForm, add_domain_error
from orders.models import Fulfilment, Order, OrderStatus
from orders.selectors import orders_for_user, pickup_desk
from orders.staff.common import page_context, time_left

DESK_ROWS = 100


def desk(request, *, admin_site):
    if not rules.may_view_orders(request.user):
        raise PermissionDenied
    stores = list(rules.desk_stores(request.user))
    store = _chosen_store(stores, request.GET.get("location", ""))
    can_act = rules.may_act_on_orders(request.user)
    form = DeskCollectForm(request.POST or None)
    if request.method == "POST":
        if not can_act or store is None:
            raise PermissionDenied
        if form.is_valid():
            done = _collect(request, store, form)
            if done is not None:
                messages.success(request, _("%(number)s collected.") % {"number": done.number})
                return HttpResponseRedirect(request.get_full_path())
    context = page_context(
        admin_site,
        request,
        _("Pickup desk — %(store)s") % {"store": store.name} if store else _("Pickup desk"),
        stores=stores,
        store=store,
        queues=_queues(request.user, store) if store is not None else {},
        form=form,
        can_act=can_act,
        desk_url=request.get_full_path(),
    )
    return TemplateResponse(request, "orders/staff/desk.html", context)


def _chosen_store(stores, code: str):
    """The store named by ``?location=`` (404 unless it is one of the user's), or the only one."""
    if code:
        store = next((s for s in stores if s.code == code), None)
        if store is None:
            raise Http404(_("Not one of your stores."))
        return store
    return stores[0] if len(stores) == 1 else None


def _queues(user, store) -> dict[str, dict]:
    """Each queue's first ``DESK_ROWS`` orders (with the time left on their hold) and whether
    more wait."""
    queues = {}
    now = timezone.now()
    for name, queryset in pickup_desk(user, location=store, now=now).items():
        rows = list(queryset[: DESK_ROWS + 1])
        for order in rows:
            if order.hold_until:
                order.time_left = time_left(order.hold_until, now)
        queues[name] = {"rows": rows[:DESK_ROWS], "more": len(rows) > DESK_ROWS}
    return queues


def _collect(request, store, form) -> Order | None:
    """Hand over the ready order with the number typed at this store's desk, code checked."""
    order = (
        orders_for_user(request.user)
        .filter(
            location=store,
            fulfilment=Fulfilment.PICKUP,
            status=OrderStatus.READY,
            number=form.cleaned_data["number"],
        )
        .first()
    )
    if order is None:
        form.add_error(
            "number",
            _("No order with this number is waiting at %(store)s.") % {"store": store.name},
        )
        return None
    try:
        return services.collect(
            order=order, code=form.cleaned_data["code"], acting_user=request.user
        )
    except TooManyAttempts as exc:
        messages.error(request, f"{order.number}: {exc.message}")
    except DomainError as exc:
        add_domain_error(form, exc)
    return None
