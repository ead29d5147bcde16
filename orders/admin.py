from decimal import Decimal

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from customers.models import Channel, Customer, CustomerStatus
from customers.selectors import search_customers
from inventory.admin import ScopedLocationFilter
from inventory.models import LocationKind
from inventory.selectors import locations_for_user
from omni.admin_mixins import DomainErrorsAsMessagesMixin, ReadOnlyAdminMixin, run_on_each
from omni.exceptions import DomainError
from orders import pricing, services
from orders.exceptions import TooManyAttempts
from orders.forms import (
    CancelForm,
    CollectForm,
    CounterAddForm,
    CounterFinishForm,
    DeskCollectForm,
    ReturnForm,
    ShortPickForm,
    add_domain_error,
    normalise_number,
)
from orders.models import (
    OPEN_STATUSES,
    Cart,
    CartLine,
    Coupon,
    CouponRedemption,
    Fulfilment,
    LineState,
    Order,
    OrderStatus,
    Promotion,
    Return,
    ReturnLine,
)
from orders.pricing import normalise_code
from orders.selectors import orders_for_user, pickup_desk
from orders.services.returns import RETURNABLE


class CartLineInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = CartLine
    extra = 0
    fields = ["variant", "quantity", "added_at"]
    readonly_fields = fields


@admin.register(Cart)
class CartAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["pk", "customer", "channel", "status", "updated_at"]
    list_filter = ["status", "channel"]
    list_select_related = ["customer"]
    inlines = [CartLineInline]
    fields = ["customer", "channel", "status", "merged_into", "created_at", "updated_at"]
    readonly_fields = fields


class CouponInline(admin.TabularInline):
    model = Coupon
    extra = 1
    fields = ["code", "single_use", "used"]
    readonly_fields = ["used"]


@admin.register(Promotion)
class PromotionAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "kind",
        "value",
        "min_basket",
        "starts_at",
        "ends_at",
        "times_used",
        "active",
    ]
    list_filter = ["kind", "active"]
    search_fields = ["name", "coupons__code"]
    filter_horizontal = ["categories", "products"]
    readonly_fields = ["times_used"]
    inlines = [CouponInline]

    def save_formset(self, request, form, formset, change):
        for coupon_form in formset.forms:
            if coupon_form.cleaned_data.get("code"):
                coupon_form.instance.code = normalise_code(coupon_form.cleaned_data["code"])
        super().save_formset(request, form, formset, change)


@admin.register(CouponRedemption)
class CouponRedemptionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "coupon", "customer", "channel", "reference", "discount"]
    list_filter = ["channel"]
    list_select_related = ["coupon", "customer"]
    search_fields = ["coupon__code", "reference"]


# --- Orders: the store's desk, returns at the counter, counter sales ---------------------------


def stores_for_user(user):
    """The active stores the user may act on (the one scoping helper, narrowed to stores)."""
    return locations_for_user(user).filter(kind=LocationKind.STORE, active=True).order_by("name")


def desk_stores(user):
    return stores_for_user(user).filter(is_pickup_point=True)


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


@admin.register(Order)
class OrderAdmin(DomainErrorsAsMessagesMixin, admin.ModelAdmin):
    """Orders for the staff of their stores. The change page is read-only: every change is a
    button calling a service (mark ready, collect, cancel, short pick, ship, return)."""

    list_display = [
        "number",
        "created_at",
        "customer",
        "fulfilment",
        "location",
        "status",
        "payment_state",
        "total",
    ]
    list_display_links = ["number"]
    list_filter = ["status", "fulfilment", "channel", "payment_state", ScopedLocationFilter]
    list_select_related = ["customer", "location"]
    search_help_text = _("Order number, marketplace reference, or the customer's e-mail or phone.")
    search_fields = ["number"]  # the real search is get_search_results
    list_per_page = 50
    show_full_result_count = False
    actions = ["ship_selected", "settle_refunds"]
    change_form_template = "admin/orders/order/change_form.html"
    change_list_template = "admin/orders/order/change_list.html"
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "number",
                    "status",
                    "customer",
                    "channel",
                    "fulfilment",
                    "location",
                    "created_at",
                    "created_by",
                    "external_reference",
                )
            },
        ),
        (
            _("Totals and payment"),
            {
                "fields": (
                    "subtotal",
                    "discount_total",
                    "shipping_total",
                    "tax_total",
                    "total",
                    "refunded_total",
                    "payment_state",
                    "payment_provider",
                    "payment_reference",
                    "coupon",
                )
            },
        ),
        (
            _("Pickup"),
            {"fields": ("promised_on", "ready_at", "hold_until", "closed_at", "code_attempts")},
        ),
        (_("Routing"), {"fields": ("routing_reason", "address")}),
    )

    def get_readonly_fields(self, request, obj=None):
        return [name for _title, options in self.fieldsets for name in options["fields"]]

    def get_queryset(self, request):
        return orders_for_user(request.user).select_related("customer", "location")

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        customers = search_customers(term).order_by().values("pk")
        return (
            queryset.filter(
                Q(number=normalise_number(term))
                | Q(external_reference=term)
                | Q(customer__in=customers)
            ),
            False,
        )

    def has_add_permission(self, request):
        return False  # orders come from checkout, imports and the counter page

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        # The change page is view-only; "change" stands for the desk actions (see can_act).
        return obj is None and super().has_change_permission(request)

    def can_act(self, request) -> bool:
        return super().has_change_permission(request)

    @admin.display(description=_("shipping address"))
    def address(self, obj):
        return ", ".join(str(v) for v in obj.shipping_address.values() if v) or "—"

    # --- The change page ---------------------------------------------------------------------

    def _order(self, request, pk) -> Order:
        """The order, if the user may see it: another store's order is a 404, as if absent."""
        order = self.get_object(request, str(pk))
        if order is None:
            raise Http404(_("No such order."))
        return order

    def _change_url(self, order) -> str:
        return reverse("admin:orders_order_change", args=[order.pk])

    def change_view(self, request, object_id, form_url="", extra_context=None):
        order = self._order(request, unquote(object_id))
        can_act = self.can_act(request)
        now = timezone.now()
        lines = list(order.lines.select_related("location", "transfer").order_by("pk"))
        blocked = any(line.state not in (LineState.ALLOCATED, LineState.REFUNDED) for line in lines)
        pickup_open = order.fulfilment == Fulfilment.PICKUP and order.status in (
            OrderStatus.PLACED,
            OrderStatus.READY,
        )
        for line in lines:
            line.can_short_pick = can_act and pickup_open and line.state == LineState.ALLOCATED
        extra_context = {
            **(extra_context or {}),
            "order": order,
            "lines": lines,
            "history": order.history.select_related("acting_user").order_by("at", "pk"),
            "refunds": order.refunds.select_related("acting_user").order_by("pk"),
            "returns": order.returns.select_related("location", "refund", "acting_user")
            .prefetch_related("lines__order_line")
            .order_by("pk"),
            "can_ready": can_act
            and order.status == OrderStatus.PLACED
            and order.fulfilment == Fulfilment.PICKUP
            and not blocked,
            "can_collect": can_act and order.status == OrderStatus.READY,
            "can_cancel": can_act and order.status in OPEN_STATUSES,
            "can_ship": can_act
            and order.status == OrderStatus.PLACED
            and order.fulfilment == Fulfilment.SHIP,
            "can_return": request.user.has_perm("orders.add_return") and order.status in RETURNABLE,
            "time_left": time_left(order.hold_until, now)
            if order.status == OrderStatus.READY and order.hold_until
            else "",
            "code_locked": bool(order.code_locked_until and order.code_locked_until > now),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    # --- Custom pages ------------------------------------------------------------------------

    def get_urls(self):
        def view(func):
            return self.admin_site.admin_view(func)

        return [
            path("desk/", view(self.desk_view), name="orders_order_desk"),
            path(
                "counter/<int:customer_pk>/",
                view(self.counter_view),
                name="orders_order_counter",
            ),
            path("<int:pk>/ready/", view(self.ready_view), name="orders_order_ready"),
            path("<int:pk>/collect/", view(self.collect_view), name="orders_order_collect"),
            path("<int:pk>/cancel/", view(self.cancel_view), name="orders_order_cancel"),
            path("<int:pk>/ship/", view(self.ship_view), name="orders_order_ship"),
            path(
                "<int:pk>/lines/<int:line_pk>/short-pick/",
                view(self.short_pick_view),
                name="orders_order_short_pick",
            ),
            path("<int:pk>/return/", view(self.return_view), name="orders_order_return"),
            *super().get_urls(),
        ]

    def _context(self, request, title, **extra):
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            **extra,
        }

    def _acting_order(self, request, pk) -> Order:
        if not self.can_act(request):
            raise PermissionDenied
        return self._order(request, pk)

    def _next_or_order(self, request, order) -> HttpResponseRedirect:
        target = request.POST.get("next") or request.GET.get("next") or ""
        if target and url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            return HttpResponseRedirect(target)
        return HttpResponseRedirect(self._change_url(order))

    def _action_form(self, request, order, form, *, title, submit, danger=False, intro=""):
        return TemplateResponse(
            request,
            "admin/orders/order/action_form.html",
            self._context(
                request,
                title,
                order=order,
                form=form,
                submit=submit,
                danger=danger,
                intro=intro,
            ),
        )

    @method_decorator(require_POST)
    def ready_view(self, request, pk):
        order = self._acting_order(request, pk)
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
        return self._next_or_order(request, order)

    @method_decorator(require_POST)
    def ship_view(self, request, pk):
        order = self._acting_order(request, pk)
        try:
            services.mark_shipped(order=order, acting_user=request.user)
        except DomainError as exc:
            messages.error(request, f"{order.number}: {exc.message}")
        else:
            messages.success(request, _("%(number)s shipped.") % {"number": order.number})
        return self._next_or_order(request, order)

    def collect_view(self, request, pk):
        order = self._acting_order(request, pk)
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
                return self._next_or_order(request, order)
        return self._action_form(
            request,
            order,
            form,
            title=_("Hand over %(number)s") % {"number": order.number},
            submit=_("Hand over"),
            intro=_("Ask for the pickup code the shopper received, or check their identity."),
        )

    def cancel_view(self, request, pk):
        order = self._acting_order(request, pk)
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
                return HttpResponseRedirect(self._change_url(order))
        return self._action_form(
            request,
            order,
            form,
            title=_("Cancel %(number)s") % {"number": order.number},
            submit=_("Cancel the order"),
            danger=True,
            intro=_("Held units go back on sale; what was paid is refunded."),
        )

    def short_pick_view(self, request, pk, line_pk):
        order = self._acting_order(request, pk)
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
                return HttpResponseRedirect(self._change_url(order))
        return self._action_form(
            request,
            order,
            form,
            title=_("Short pick: %(sku)s on %(number)s")
            % {"sku": line.sku, "number": order.number},
            submit=_("Record the short pick"),
            intro=ngettext(
                "%(name)s — %(n)s unit at %(store)s. Missing units are written off.",
                "%(name)s — %(n)s units at %(store)s. Missing units are written off.",
                line.quantity,
            )
            % {"name": line.name, "n": line.quantity, "store": line.location},
        )

    # --- The pickup desk ---------------------------------------------------------------------

    DESK_ROWS = 100

    def desk_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        stores = list(desk_stores(request.user))
        code = request.GET.get("location", "")
        if code:
            store = next((s for s in stores if s.code == code), None)
            if store is None:
                raise Http404(_("Not one of your stores."))
        else:
            store = stores[0] if len(stores) == 1 else None
        can_act = self.can_act(request)
        form = DeskCollectForm(request.POST or None)
        if request.method == "POST":
            if not can_act or store is None:
                raise PermissionDenied
            if form.is_valid():
                done = self._desk_collect(request, store, form)
                if done is not None:
                    messages.success(request, _("%(number)s collected.") % {"number": done.number})
                    return HttpResponseRedirect(request.get_full_path())
        queues = {}
        if store is not None:
            now = timezone.now()
            for name, queryset in pickup_desk(request.user, location=store, now=now).items():
                rows = list(queryset[: self.DESK_ROWS + 1])
                for order in rows:
                    if order.hold_until:
                        order.time_left = time_left(order.hold_until, now)
                queues[name] = {"rows": rows[: self.DESK_ROWS], "more": len(rows) > self.DESK_ROWS}
        context = self._context(
            request,
            _("Pickup desk — %(store)s") % {"store": store.name} if store else _("Pickup desk"),
            stores=stores,
            store=store,
            queues=queues,
            form=form,
            can_act=can_act,
            desk_url=request.get_full_path(),
        )
        return TemplateResponse(request, "admin/orders/order/desk.html", context)

    def _desk_collect(self, request, store, form) -> Order | None:
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

    # --- Returns at the counter --------------------------------------------------------------

    def return_view(self, request, pk):
        if not request.user.has_perm("orders.add_return"):
            raise PermissionDenied
        order = self._order(request, pk)
        if order.status not in RETURNABLE:
            messages.error(
                request,
                _(
                    "Only a collected, shipped or completed order can be returned; this one is %(s)s."
                )
                % {"s": order.get_status_display()},
            )
            return HttpResponseRedirect(self._change_url(order))
        lines = [
            line
            for line in order.lines.filter(state=LineState.FULFILLED)
            .select_related("location")
            .order_by("pk")
            if line.returned_quantity < line.quantity
        ]
        stores = stores_for_user(request.user)
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
                # create_return hands back the row as created, before receive_return filled in
                # the refund: read it again.
                return_ = Return.objects.select_related("refund", "location").get(pk=return_.pk)
                amount = return_.refund.amount if return_.refund else Decimal("0.00")
                messages.success(
                    request,
                    _("Return R%(id)s received at %(store)s. Refund: %(amount)s €.")
                    % {"id": return_.pk, "store": return_.location.name, "amount": amount},
                )
                return HttpResponseRedirect(self._change_url(order))
        context = self._context(
            request,
            _("Return from %(number)s") % {"number": order.number},
            order=order,
            form=form,
            has_stores=stores.exists(),
        )
        return TemplateResponse(request, "admin/orders/order/return.html", context)

    # --- Counter sale from the customer 360 --------------------------------------------------

    def counter_view(self, request, customer_pk):
        if not (
            request.user.has_perm("orders.sell_at_counter")
            and request.user.has_perm("customers.view_customer")
        ):
            raise PermissionDenied
        customer = Customer.objects.filter(pk=customer_pk, status=CustomerStatus.LIVE).first()
        if customer is None:
            raise Http404(_("No such customer."))
        stores = stores_for_user(request.user)
        cart = services.open_cart(customer=customer, channel=Channel.STORE)
        action = request.POST.get("action") if request.method == "POST" else None
        add_form = CounterAddForm(request.POST if action == "add" else None, prefix="add")
        finish_form = CounterFinishForm(
            request.POST if action == "finish" else None, prefix="finish", stores=stores
        )
        here = request.get_full_path()
        try:
            if action == "add" and add_form.is_valid():
                variant = add_form.cleaned_data["sku"]
                services.add_to_cart(
                    cart=cart,
                    variant=variant,
                    quantity=add_form.cleaned_data["quantity"],
                    channel=Channel.STORE,
                )
                messages.success(request, _("%(sku)s added.") % {"sku": variant.sku})
                return HttpResponseRedirect(here)
            if action == "remove":
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
                return HttpResponseRedirect(here)
            if action == "finish" and finish_form.is_valid():
                order = services.place_order(
                    cart=cart,
                    fulfilment=Fulfilment.COUNTER,
                    location=finish_form.cleaned_data["location"],
                    channel=Channel.STORE,
                    idempotency_key=f"counter-cart:{cart.pk}",
                    acting_user=request.user,
                )
                messages.success(
                    request,
                    _("Sale %(number)s done: %(total)s € paid.")
                    % {"number": order.number, "total": order.total},
                )
                return HttpResponseRedirect(self._change_url(order))
        except DomainError as exc:
            add_domain_error(finish_form if action == "finish" else add_form, exc)
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
        context = self._context(
            request,
            _("Counter sale for %(customer)s") % {"customer": customer},
            customer=customer,
            cart=cart,
            lines=lines,
            quote=quote,
            add_form=add_form,
            finish_form=finish_form,
            has_stores=stores.exists(),
        )
        return TemplateResponse(request, "admin/orders/order/counter.html", context)

    # --- Changelist action -------------------------------------------------------------------

    @admin.action(description=_("Mark the selected parcels shipped"), permissions=["change"])
    def ship_selected(self, request, queryset):
        done = run_on_each(
            request,
            queryset.order_by("pk"),
            lambda order: services.mark_shipped(order=order, acting_user=request.user),
            label=lambda order: order.number,
        )
        if done:
            messages.success(
                request,
                ngettext("%(n)s order shipped.", "%(n)s orders shipped.", done) % {"n": done},
            )

    @admin.action(
        description=_("Pay the refunds due on the selected orders"), permissions=["refund"]
    )
    def settle_refunds(self, request, queryset):
        done = run_on_each(
            request,
            queryset.order_by("pk"),
            lambda order: services.settle_refund(order=order, acting_user=request.user),
            label=lambda order: order.number,
        )
        if done:
            messages.success(
                request,
                ngettext("%(n)s refund paid.", "%(n)s refunds paid.", done) % {"n": done},
            )

    def has_refund_permission(self, request) -> bool:
        return request.user.has_perm("orders.add_refund")


class ReturnLineInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ReturnLine
    extra = 0
    fields = ["order_line", "quantity", "condition", "refund_amount"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("order_line")


@admin.register(Return)
class ReturnAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Returns, read-only: they are taken on the order's Return page (or by post)."""

    list_display = [
        "reference",
        "order",
        "location",
        "by_post",
        "received_at",
        "refund_amount",
        "acting_user",
        "created_at",
    ]
    list_filter = ["by_post", ScopedLocationFilter]
    list_select_related = ["order", "location", "refund", "acting_user"]
    search_fields = ["order__number"]
    fields = [
        "order",
        "location",
        "by_post",
        "received_at",
        "refund",
        "acting_user",
        "created_at",
    ]
    readonly_fields = fields
    inlines = [ReturnLineInline]
    show_full_result_count = False

    def get_queryset(self, request):
        user = request.user
        return (
            super()
            .get_queryset(request)
            .filter(Q(location__in=locations_for_user(user)) | Q(order__in=orders_for_user(user)))
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if self.get_object(request, unquote(object_id)) is None:
            raise Http404(_("No such return."))
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description=_("return"), ordering="pk")
    def reference(self, obj):
        return f"R{obj.pk}"

    @admin.display(description=_("refund"))
    def refund_amount(self, obj):
        return obj.refund.amount if obj.refund else "—"
