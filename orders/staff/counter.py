"""A counter sale from the customer 360: the customer's store cart, items added by SKU or
barcode, and the sale finished (paid) at one of the user's stores."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from customers.models import Channel, Customer, CustomerStatus
from omni.exceptions import DomainError
from orders import pricing, rules, selectors, services
from orders.forms import CounterAddForm, CounterFinishForm, add_domain_error
from orders.models import Cart, Fulfilment
from orders.staff.common import change_url, page_context


def counter(request, customer_pk, *, admin_site):
    if not rules.may_sell_at_counter(request.user):
        raise PermissionDenied
    customer = Customer.objects.filter(pk=customer_pk, status=CustomerStatus.LIVE).first()
    if customer is None:
        raise Http404(_("No such customer."))
    stores = rules.stores_for_user(request.user)
    cart = services.open_cart(customer=customer, channel=Channel.STORE)
    action = request.POST.get("action") if request.method == "POST" else None
    add_form = CounterAddForm(request.POST if action == "add" else None, prefix="add")
    finish_form = CounterFinishForm(
        request.POST if action == "finish" else None, prefix="finish", stores=stores
    )
    try:
        if action == "add" and add_form.is_valid():
            return _add(request, cart, add_form)
        if action == "remove":
            return _remove(request, cart)
        if action == "finish" and finish_form.is_valid():
            return _finish(request, cart, finish_form)
    except DomainError as exc:
        if action == "finish":
            add_domain_error(finish_form, exc, aliases=finish_form.error_aliases)
        else:
            add_domain_error(add_form, exc)
    context = page_context(
        admin_site,
        request,
        _("Counter sale for %(customer)s") % {"customer": customer},
        customer=customer,
        cart=cart,
        **_cart_contents(cart),
        add_form=add_form,
        finish_form=finish_form,
        offers=selectors.personal_offers(customer, channel=Channel.STORE),
        has_stores=stores.exists(),
    )
    return TemplateResponse(request, "orders/staff/counter.html", context)


def _add(request, cart: Cart, form: CounterAddForm) -> HttpResponseRedirect:
    variant = form.cleaned_data["sku"]
    services.add_to_cart(
        cart=cart, variant=variant, quantity=form.cleaned_data["quantity"], channel=Channel.STORE
    )
    messages.success(request, _("%(sku)s added.") % {"sku": variant.sku})
    return HttpResponseRedirect(request.get_full_path())


def _remove(request, cart: Cart) -> HttpResponseRedirect:
    line_id = request.POST.get("line", "")
    line = (
        cart.lines.select_related("variant__product").filter(pk=int(line_id)).first()
        if line_id.isdigit()
        else None
    )
    if line is not None:
        services.set_line_quantity(
            cart=cart, variant=line.variant, quantity=0, channel=Channel.STORE
        )
        messages.success(request, _("%(sku)s removed.") % {"sku": line.variant.sku})
    return HttpResponseRedirect(request.get_full_path())


def _finish(request, cart: Cart, form: CounterFinishForm) -> HttpResponseRedirect:
    order = services.place_order(
        cart=cart,
        fulfilment=Fulfilment.COUNTER,
        location=form.cleaned_data["location"],
        channel=Channel.STORE,
        coupon_code=form.cleaned_data["coupon_code"],
        idempotency_key=f"counter-cart:{cart.pk}",
        acting_user=request.user,
    )
    messages.success(
        request,
        _("Sale %(number)s done: %(total)s € paid.")
        % {"number": order.number, "total": order.total},
    )
    return HttpResponseRedirect(change_url(order))


def _cart_contents(cart: Cart) -> dict:
    """The cart's lines (each with its total) and their quote, for the page."""
    lines = list(cart.lines.select_related("variant__product").order_by("pk"))
    quote = (
        pricing.quote(
            [pricing.PricedLine(li.variant, li.quantity, li.variant.price) for li in lines]
        )
        if lines
        else None
    )
    for line in lines:
        line.total = line.variant.price * line.quantity
    return {"lines": lines, "quote": quote}
