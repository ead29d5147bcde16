"""Returns at the counter: the units the shopper brings back, their condition, the refund."""

from decimal import Decimal

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from omni.exceptions import DomainError
from orders import rules, services
from orders.forms import ReturnForm, add_domain_error
from orders.models import LineState, Return
from orders.staff.common import change_url, page_context, scoped_order


def return_items(request, pk, *, admin_site):
    if not rules.may_take_returns(request.user):
        raise PermissionDenied
    order = scoped_order(request, pk)
    try:
        rules.check_return(order)
    except DomainError as exc:
        messages.error(request, exc.message)
        return HttpResponseRedirect(change_url(order))
    lines = [
        line
        for line in order.lines.filter(state=LineState.FULFILLED)
        .select_related("location")
        .order_by("pk")
        if line.returned_quantity < line.quantity
    ]
    stores = rules.stores_for_user(request.user)
    form = ReturnForm(request.POST or None, lines=lines, stores=stores)
    if request.method == "POST" and form.is_valid():
        returned, conditions = form.returned()
        try:
            return_ = services.create_return(
                order=order,
                lines=returned,
                location=form.cleaned_data["location"],
                conditions=conditions,
                idempotency_key=form.cleaned_data["token"],
                acting_user=request.user,
            )
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(request, _received(return_))
            return HttpResponseRedirect(change_url(order))
    context = page_context(
        admin_site,
        request,
        _("Return from %(number)s") % {"number": order.number},
        order=order,
        form=form,
        has_stores=stores.exists(),
    )
    return TemplateResponse(request, "orders/staff/return.html", context)


def _received(return_: Return) -> str:
    # create_return hands back the row as created, before receive_return filled in the refund:
    # read it again.
    return_ = Return.objects.select_related("refund", "location").get(pk=return_.pk)
    amount = return_.refund.amount if return_.refund else Decimal("0.00")
    return _("Return R%(id)s received at %(store)s. Refund: %(amount)s €.") % {
        "id": return_.pk,
        "store": return_.location.name,
        "amount": amount,
    }
