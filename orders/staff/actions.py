"""The order's action pages: mark ready, ship (buttons), hand over, cancel, short pick (forms)."""

from django.contrib import messages
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from omni.exceptions import DomainError
from orders import services
from orders.exceptions import TooManyAttempts
from orders.forms import CancelForm, CollectForm, ShortPickForm, add_domain_error
from orders.staff.common import acting_order, change_url, next_or_order, page_context


def action_form(admin_site, request, order, form, *, title, submit, danger=False, intro=""):
    """One form about one order, with its submit button and a way back to the order."""
    context = page_context(
        admin_site,
        request,
        title,
        order=order,
        form=form,
        submit=submit,
        danger=danger,
        intro=intro,
    )
    return TemplateResponse(request, "orders/staff/action_form.html", context)


@require_POST
def ready(request, pk, *, admin_site):
    order = acting_order(request, pk)
    try:
        code = services.mark_ready(order=order, acting_user=request.user)
    except DomainError as exc:
        messages.error(request, f"{order.number}: {exc.message}")
    else:
        messages.success(
            request,
            _(
                "%(number)s is ready for pickup. Pickup code: %(code)s — shown only this "
                "once (the shopper has it too)."
            )
            % {"number": order.number, "code": code},
        )
    return next_or_order(request, order)


@require_POST
def ship(request, pk, *, admin_site):
    order = acting_order(request, pk)
    try:
        services.mark_shipped(order=order, acting_user=request.user)
    except DomainError as exc:
        messages.error(request, f"{order.number}: {exc.message}")
    else:
        messages.success(request, _("%(number)s shipped.") % {"number": order.number})
    return next_or_order(request, order)


def collect(request, pk, *, admin_site):
    order = acting_order(request, pk)
    form = CollectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.collect(
                order=order,
                code=form.cleaned_data["code"],
                identity_checked=form.cleaned_data["identity_checked"],
                acting_user=request.user,
            )
        except TooManyAttempts as exc:
            messages.error(request, exc.message)
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(request, _("%(number)s collected.") % {"number": order.number})
            return next_or_order(request, order)
    return action_form(
        admin_site,
        request,
        order,
        form,
        title=_("Hand over %(number)s") % {"number": order.number},
        submit=_("Hand over"),
        intro=_("Ask for the pickup code the shopper received, or check their identity."),
    )


def cancel(request, pk, *, admin_site):
    order = acting_order(request, pk)
    form = CancelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.cancel_order(
                order=order, reason=form.cleaned_data["reason"], acting_user=request.user
            )
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(request, _("%(number)s cancelled.") % {"number": order.number})
            return HttpResponseRedirect(change_url(order))
    return action_form(
        admin_site,
        request,
        order,
        form,
        title=_("Cancel %(number)s") % {"number": order.number},
        submit=_("Cancel the order"),
        danger=True,
        intro=_("Held units go back on sale; what was paid is refunded."),
    )


def short_pick(request, pk, line_pk, *, admin_site):
    order = acting_order(request, pk)
    line = order.lines.filter(pk=line_pk).first()
    if line is None:
        raise Http404(_("No such line."))
    form = ShortPickForm(request.POST or None, line=line)
    if request.method == "POST" and form.is_valid():
        try:
            services.short_pick(
                order=order,
                line=line,
                missing=form.cleaned_data["missing"],
                resolution=form.cleaned_data["resolution"],
                acting_user=request.user,
            )
        except DomainError as exc:
            add_domain_error(form, exc)
        else:
            messages.success(
                request,
                _("Short pick of %(sku)s recorded on %(number)s.")
                % {"sku": line.sku, "number": order.number},
            )
            return HttpResponseRedirect(change_url(order))
    return action_form(
        admin_site,
        request,
        order,
        form,
        title=_("Short pick: %(sku)s on %(number)s") % {"sku": line.sku, "number": order.number},
        submit=_("Record the short pick"),
        intro=ngettext(
            "%(name)s — %(n)s unit at %(store)s. Missing units are written off.",
            "%(name)s — %(n)s units at %(store)s. Missing units are written off.",
            line.quantity,
        )
        % {"name": line.name, "n": line.quantity, "store": line.location},
    )
