from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpResponseRedirect, StreamingHttpResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from customers.selectors import search_customers
from inventory.admin import ScopedLocationFilter
from inventory.selectors import locations_for_user
from omni.admin_mixins import DomainErrorsAsMessagesMixin, ReadOnlyAdminMixin, run_on_each
from orders import rules, services
from orders.exports import coupon_batch_csv
from orders.forms import CouponBatchForm, PromotionForm, normalise_number
from orders.models import (
    Cart,
    CartLine,
    Coupon,
    CouponBatch,
    CouponRedemption,
    LineState,
    Order,
    OrderStatus,
    Promotion,
    Return,
    ReturnLine,
)
from orders.pricing import normalise_code
from orders.selectors import orders_for_user
from orders.staff import urls as staff_urls
from orders.staff.common import time_left


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
    """Hand-made codes; batches and personal codes are listed on their own pages."""

    model = Coupon
    extra = 1
    fields = ["code", "single_use", "used"]
    readonly_fields = ["used"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(batch__isnull=True, customer__isnull=True)


@admin.register(Promotion)
class PromotionAdmin(admin.ModelAdmin):
    form = PromotionForm
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
    readonly_fields = ["times_used", "coupon_batches"]
    inlines = [CouponInline]

    @admin.display(description=_("coupon batches"))
    def coupon_batches(self, obj):
        if obj is None or obj.pk is None:
            return _("Save the promotion first.")
        count = obj.batches.count()
        listed = reverse("admin:orders_couponbatch_changelist") + f"?promotion__id__exact={obj.pk}"
        add = reverse("admin:orders_couponbatch_add") + f"?promotion={obj.pk}"
        return format_html(
            '<a href="{}">{}</a> · <a href="{}">{}</a>',
            listed,
            ngettext("%(n)s batch", "%(n)s batches", count) % {"n": count},
            add,
            _("Issue a batch of codes"),
        )

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


@admin.register(CouponBatch)
class CouponBatchAdmin(DomainErrorsAsMessagesMixin, admin.ModelAdmin):
    """Batches of single-use codes: created from a promotion (quantity, prefix), then read-only
    with a CSV download of their codes."""

    form = CouponBatchForm
    list_display = ["__str__", "promotion", "quantity", "created_by", "created_at", "download"]
    list_select_related = ["promotion", "created_by"]
    list_filter = ["promotion"]
    search_fields = ["prefix", "promotion__name"]
    shown = ["promotion", "prefix", "quantity", "created_by", "created_at", "download"]

    def get_fields(self, request, obj=None):
        return self.shown if obj else ["promotion", "quantity", "prefix"]

    def get_readonly_fields(self, request, obj=None):
        return self.shown if obj else []

    def has_change_permission(self, request, obj=None):
        # An issued batch is read-only (its page shows it with the download link).
        return obj is None and super().has_change_permission(request)

    def save_model(self, request, obj, form, change):
        if change:
            return
        batch = services.issue_coupon_batch(
            promotion=form.cleaned_data["promotion"],
            quantity=form.cleaned_data["quantity"],
            prefix=form.cleaned_data["prefix"],
            acting_user=request.user,
        )
        obj.pk, obj.created_at, obj.created_by = batch.pk, batch.created_at, batch.created_by

    def response_add(self, request, obj, post_url_continue=None):
        messages.success(
            request,
            ngettext("%(n)s code issued.", "%(n)s codes issued.", obj.quantity)
            % {"n": obj.quantity},
        )
        return HttpResponseRedirect(reverse("admin:orders_couponbatch_change", args=[obj.pk]))

    @admin.display(description=_("codes"))
    def download(self, obj):
        url = reverse("admin:orders_couponbatch_csv", args=[obj.pk])
        return format_html('<a href="{}" download>{}</a>', url, _("Download CSV"))

    def get_urls(self):
        view = self.admin_site.admin_view(self.csv_view)
        return [
            path("<int:batch_id>/codes.csv", view, name="orders_couponbatch_csv"),
            *super().get_urls(),
        ]

    def csv_view(self, request, batch_id: int):
        batch = CouponBatch.objects.select_related("promotion").filter(pk=batch_id).first()
        if not self.has_view_permission(request, batch):
            raise PermissionDenied
        if batch is None:
            raise Http404(_("No such coupon batch."))
        response = StreamingHttpResponse(coupon_batch_csv(batch), content_type="text/csv")
        name = f"coupons-{batch.prefix or batch.pk}-{batch.pk}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


# --- Orders: the change page and its buttons (the staff pages are in orders.staff) ---------


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
        return rules.may_act_on_orders(request.user)

    @admin.display(description=_("shipping address"))
    def address(self, obj):
        return ", ".join(str(v) for v in obj.shipping_address.values() if v) or "—"

    # --- The change page: the order, its lines and history, a button per allowed action --------

    def change_view(self, request, object_id, form_url="", extra_context=None):
        order = self.get_object(request, unquote(object_id))
        if order is None:  # another store's order is a 404, as if absent
            raise Http404(_("No such order."))
        can_act = self.can_act(request)
        now = timezone.now()
        lines = list(order.lines.select_related("location", "transfer").order_by("pk"))
        can_short_pick = can_act and rules.allows(rules.check_short_pick, order)
        for line in lines:
            line.can_short_pick = can_short_pick and line.state == LineState.ALLOCATED
        extra_context = {
            **(extra_context or {}),
            "order": order,
            "lines": lines,
            "history": order.history.select_related("acting_user").order_by("at", "pk"),
            "refunds": order.refunds.select_related("acting_user").order_by("pk"),
            "returns": order.returns.select_related("location", "refund", "acting_user")
            .prefetch_related("lines__order_line")
            .order_by("pk"),
            "can_ready": can_act and rules.allows(rules.check_ready, order, lines=lines),
            "can_collect": can_act and rules.allows(rules.check_collect, order),
            "can_cancel": can_act and rules.allows(rules.check_cancel, order),
            "can_ship": can_act and rules.allows(rules.check_ship, order),
            "can_return": rules.may_take_returns(request.user)
            and rules.allows(rules.check_return, order),
            "time_left": time_left(order.hold_until, now)
            if order.status == OrderStatus.READY and order.hold_until
            else "",
            "code_locked": rules.code_locked(order, now),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    # --- The staff pages (desk, action forms, return, counter) ------------------------------

    def get_urls(self):
        return [*staff_urls.urlpatterns(self.admin_site), *super().get_urls()]

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
