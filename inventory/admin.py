from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, F, Q
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from inventory import selectors, services
from inventory.exceptions import InvalidTransferState, StockCountImportInvalid
from inventory.forms import StockCountImportForm, StockLevelForm, TransferReceiveForm
from inventory.models import (
    Category,
    Location,
    MovementKind,
    Product,
    Reservation,
    StockLevel,
    StockMovement,
    Transfer,
    TransferLine,
    TransferRoute,
    TransferStatus,
    Variant,
)
from inventory.selectors import locations_for_user, stock_levels_for_user, with_availability
from omni.admin_mixins import DomainErrorsAsMessagesMixin, ReadOnlyAdminMixin, run_on_each
from omni.exceptions import DomainError


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "parent"]
    list_select_related = ["parent"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["parent"]


class VariantInline(admin.TabularInline):
    model = Variant
    extra = 0
    fields = ["sku", "gtin", "size", "colour", "price", "active"]


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["name", "brand", "category", "tax_class", "variant_count", "active"]
    list_filter = ["active", "tax_class", "category", "brand"]
    list_select_related = ["category"]
    search_fields = ["name", "brand", "variants__sku", "variants__gtin"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["category"]
    inlines = [VariantInline]
    list_per_page = 50

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_variant_count=Count("variants"))

    @admin.display(description=_("variants"), ordering="_variant_count")
    def variant_count(self, obj):
        return obj._variant_count


@admin.register(Variant)
class VariantAdmin(admin.ModelAdmin):
    list_display = ["sku", "product", "size", "colour", "price", "gtin", "active"]
    list_filter = ["active", "size", "colour", "product__category"]
    list_select_related = ["product"]
    search_fields = ["sku", "gtin", "product__name"]
    autocomplete_fields = ["product"]
    list_per_page = 100


@admin.register(Location)
class LocationAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "code",
        "kind",
        "city",
        "is_pickup_point",
        "ships_to_customers",
        "sells_online",
        "active",
    ]
    list_filter = [
        "kind",
        "is_pickup_point",
        "ships_to_customers",
        "sells_online",
        "active",
        "city",
    ]
    search_fields = ["name", "code", "city", "postal_code"]
    filter_horizontal = ["staff"]
    fieldsets = (
        (None, {"fields": ("kind", "code", "name", "active")}),
        (
            _("Address"),
            {
                "fields": (
                    "address",
                    "postal_code",
                    "city",
                    "country",
                    "latitude",
                    "longitude",
                    "timezone",
                )
            },
        ),
        (
            _("Service"),
            {"fields": ("opening_hours", "is_pickup_point", "ships_to_customers", "sells_online")},
        ),
        (_("Staff"), {"fields": ("staff",)}),
    )

    def get_queryset(self, request):
        # Staff see only the locations they work at; managers and back-office admins see all.
        return locations_for_user(request.user)


# --- Stock ------------------------------------------------------------------------------------


class StockStatusFilter(admin.SimpleListFilter):
    title = _("stock status")
    parameter_name = "stock"

    def lookups(self, request, model_admin):
        return [
            ("out", _("Out of stock")),
            ("low", _("Low stock (at or below safety stock)")),
            ("below_min", _("Below minimum")),
        ]

    def queryset(self, request, queryset):
        if self.value() == "out":
            return queryset.filter(sellable_counter__lte=0)
        if self.value() == "low":
            # Units only the counter may sell: none left for remote channels.
            return queryset.filter(sellable__lte=0, sellable_counter__gt=0)
        if self.value() == "below_min":
            return queryset.filter(min_qty__gt=0, on_hand__lt=F("min_qty") - F("in_transit"))
        return queryset


class ScopedLocationFilter(admin.SimpleListFilter):
    """Location filter listing only the locations the user may see."""

    title = _("location")
    parameter_name = "location"

    def lookups(self, request, model_admin):
        return [(str(loc.pk), loc.name) for loc in locations_for_user(request.user)]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(location_id=self.value())
        return queryset


@admin.register(StockLevel)
class StockLevelAdmin(DomainErrorsAsMessagesMixin, admin.ModelAdmin):
    form = StockLevelForm
    list_display = [
        "sku",
        "product_name",
        "location",
        "on_hand",
        "reserved_now",
        "sellable_display",
        "safety_stock",
        "min_qty",
        "max_qty",
        "in_transit",
    ]
    list_filter = [StockStatusFilter, ScopedLocationFilter, "location__kind"]
    search_fields = ["variant__sku", "variant__gtin", "variant__product__name"]
    list_select_related = ["variant__product", "location"]
    list_per_page = 100
    readonly_fields = ["variant", "location", "on_hand", "reserved", "in_transit", "updated_at"]
    fieldsets = (
        (None, {"fields": ("variant", "location", "on_hand", "reserved", "in_transit")}),
        (_("Replenishment"), {"fields": ("safety_stock", "min_qty", "max_qty")}),
        (_("Adjust stock"), {"fields": ("adjust_by", "adjust_kind", "adjust_reason")}),
    )
    change_list_template = "admin/inventory/stocklevel/change_list.html"

    def get_queryset(self, request):
        return with_availability(
            stock_levels_for_user(request.user).select_related("variant__product", "location")
        )

    def has_add_permission(self, request):
        return False  # stock rows appear through receipts, transfers and counts

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("SKU"), ordering="variant__sku")
    def sku(self, obj):
        return obj.variant.sku

    @admin.display(description=_("product"))
    def product_name(self, obj):
        return f"{obj.variant.product.name} · {obj.variant.size} · {obj.variant.colour}"

    @admin.display(description=_("reserved"), ordering="live_reserved")
    def reserved_now(self, obj):
        return obj.live_reserved

    @admin.display(description=_("sellable online"), ordering="sellable")
    def sellable_display(self, obj):
        colour = "#ba2121" if obj.sellable <= 0 else ("#b7791f" if obj.sellable <= 1 else "#2f855a")
        return format_html('<strong style="color:{}">{}</strong>', colour, obj.sellable)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        services.set_stock_parameters(
            variant=obj.variant,
            location=obj.location,
            safety_stock=data["safety_stock"],
            min_qty=data["min_qty"],
            max_qty=data["max_qty"],
        )
        if data.get("adjust_by"):
            services.adjust_stock(
                variant=obj.variant,
                location=obj.location,
                delta=data["adjust_by"],
                kind=data.get("adjust_kind") or MovementKind.ADJUSTMENT,
                reason=data["adjust_reason"],
                reference="admin",
                acting_user=request.user,
            )

    def get_urls(self):
        custom = [
            path(
                "import-count/",
                self.admin_site.admin_view(self.import_count_view),
                name="inventory_stocklevel_import_count",
            ),
            path(
                "replenishment/",
                self.admin_site.admin_view(self.replenishment_view),
                name="inventory_stocklevel_replenishment",
            ),
        ]
        return custom + super().get_urls()

    def import_count_view(self, request):
        if not self.has_change_permission(request):
            raise PermissionDenied
        report = []
        if request.method == "POST":
            form = StockCountImportForm(request.POST, request.FILES)
            if form.is_valid():
                try:
                    movements = services.import_stock_count(
                        rows=form.cleaned_data["file"],
                        locations=locations_for_user(request.user),
                        reference=form.cleaned_data["reference"],
                        acting_user=request.user,
                    )
                except StockCountImportInvalid as exc:
                    report = exc.errors
                    form.add_error(
                        None, _("%(n)s bad row(s); nothing was applied.") % {"n": len(report)}
                    )
                else:
                    messages.success(
                        request,
                        _("Count applied: %(n)s row(s) changed.") % {"n": len(movements)},
                    )
                    return HttpResponseRedirect(reverse("admin:inventory_stocklevel_changelist"))
        else:
            form = StockCountImportForm()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Import a stock count"),
            "form": form,
            "report": report,
        }
        return TemplateResponse(request, "admin/inventory/stocklevel/import_count.html", context)

    def replenishment_view(self, request):
        if not request.user.has_perm("inventory.add_transfer"):
            raise PermissionDenied
        scope = locations_for_user(request.user)
        plan = selectors.replenishment_plan(destinations=scope)
        if request.method == "POST":
            transfers = services.create_replenishment_transfers(plan=plan, acting_user=request.user)
            messages.success(request, _("%(n)s draft transfer(s) created.") % {"n": len(transfers)})
            return HttpResponseRedirect(reverse("admin:inventory_transfer_changelist"))
        by_store: dict[str, list] = {}
        for line in plan:
            by_store.setdefault(line.destination_code, []).append(line)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Replenishment plan"),
            "by_store": sorted(by_store.items()),
            "total_units": sum(line.quantity for line in plan),
            "line_count": len(plan),
        }
        return TemplateResponse(request, "admin/inventory/stocklevel/replenishment.html", context)


@admin.register(StockMovement)
class StockMovementAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "created_at",
        "kind",
        "variant",
        "location",
        "delta",
        "balance",
        "reference",
        "reason",
        "acting_user",
    ]
    list_filter = ["kind", ScopedLocationFilter]
    search_fields = ["variant__sku", "reference", "reason"]
    list_select_related = ["variant", "location", "acting_user"]
    date_hierarchy = "created_at"
    list_per_page = 100
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).filter(location__in=locations_for_user(request.user))


@admin.register(Reservation)
class ReservationAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "variant",
        "location",
        "quantity",
        "status",
        "owner",
        "channel",
        "expires_at",
    ]
    list_filter = ["status", "channel", ScopedLocationFilter]
    search_fields = ["owner", "variant__sku"]
    list_select_related = ["variant", "location"]
    actions = ["release_selected"]
    readonly_fields = [f.name for f in Reservation._meta.fields]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(location__in=locations_for_user(request.user))

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Release the selected reservations"), permissions=["change"])
    def release_selected(self, request, queryset):
        count = services.release(reservation_ids=list(queryset.values_list("pk", flat=True)))
        messages.success(request, _("%(n)s reservation(s) released.") % {"n": count})


class TransferLineInline(admin.TabularInline):
    model = TransferLine
    extra = 1
    fields = ["variant", "quantity", "received_qty", "discrepancy_display"]
    readonly_fields = ["received_qty", "discrepancy_display"]
    autocomplete_fields = ["variant"]

    @admin.display(description=_("discrepancy"))
    def discrepancy_display(self, obj):
        value = obj.discrepancy if obj and obj.pk else None
        return "" if value in (None, 0) else f"{value:+d}"

    def _editable(self, obj):
        return obj is None or obj.status == TransferStatus.DRAFT

    def has_add_permission(self, request, obj=None):
        return self._editable(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._editable(obj) and super().has_delete_permission(request, obj)


@admin.register(Transfer)
class TransferAdmin(DomainErrorsAsMessagesMixin, admin.ModelAdmin):
    list_display = [
        "__str__",
        "source",
        "destination",
        "status",
        "expected_on",
        "line_count",
        "created_at",
    ]
    list_filter = ["status"]
    list_select_related = ["source", "destination"]
    search_fields = ["reference", "note", "source__code", "destination__code"]
    inlines = [TransferLineInline]
    actions = ["ship_selected", "receive_selected_in_full"]
    readonly_fields = [
        "status",
        "expected_on",
        "created_by",
        "created_at",
        "shipped_at",
        "received_at",
    ]

    def get_queryset(self, request):
        scope = locations_for_user(request.user)
        return (
            super()
            .get_queryset(request)
            .filter(Q(source__in=scope) | Q(destination__in=scope))
            .annotate(_lines=Count("lines"))
        )

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.status != TransferStatus.DRAFT:
            fields += ["source", "destination", "reference", "note"]
        return fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name in ("source", "destination"):
            kwargs["queryset"] = Location.objects.filter(active=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        scope = set(locations_for_user(request.user).values_list("pk", flat=True))
        if obj.source_id not in scope and obj.destination_id not in scope:
            raise InvalidTransferState(_("One end of the transfer must be one of your locations."))
        if obj.source_id == obj.destination_id:
            raise InvalidTransferState(_("A transfer needs two different locations."))
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.display(description=_("lines"), ordering="_lines")
    def line_count(self, obj):
        return obj._lines

    @admin.action(description=_("Ship the selected transfers"), permissions=["change"])
    def ship_selected(self, request, queryset):
        self._run(request, queryset, services.ship_transfer, _("shipped"), end="source_id")

    @admin.action(description=_("Receive the selected transfers in full"), permissions=["change"])
    def receive_selected_in_full(self, request, queryset):
        self._run(request, queryset, services.receive_transfer, _("received"), end="destination_id")

    def _run(self, request, queryset, action, verb, *, end):
        """Ship from / receive into only the user's own locations."""
        scope = set(locations_for_user(request.user).values_list("pk", flat=True))

        def act(transfer):
            if getattr(transfer, end) not in scope:
                raise InvalidTransferState(_("not one of your locations."))
            action(transfer=transfer, acting_user=request.user)

        done = run_on_each(request, queryset.order_by("pk"), act)
        if done:
            messages.success(request, _("%(n)s transfer(s) %(verb)s.") % {"n": done, "verb": verb})

    def get_urls(self):
        return [
            path(
                "<int:pk>/receive/",
                self.admin_site.admin_view(self.receive_view),
                name="inventory_transfer_receive",
            ),
            *super().get_urls(),
        ]

    def receive_view(self, request, pk):
        transfer = self.get_queryset(request).filter(pk=pk).first()
        if transfer is None:
            raise Http404
        if not self.has_change_permission(request, transfer):
            raise PermissionDenied
        if not locations_for_user(request.user).filter(pk=transfer.destination_id).exists():
            raise PermissionDenied
        lines = list(transfer.lines.select_related("variant"))
        form = TransferReceiveForm(request.POST or None, lines=lines)
        if request.method == "POST" and form.is_valid():
            try:
                services.receive_transfer(
                    transfer=transfer, received=form.received(), acting_user=request.user
                )
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, _("Transfer received."))
                return HttpResponseRedirect(
                    reverse("admin:inventory_transfer_change", args=[transfer.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Receive %(transfer)s") % {"transfer": transfer},
            "transfer": transfer,
            "form": form,
        }
        return TemplateResponse(request, "admin/inventory/transfer/receive.html", context)


@admin.register(TransferRoute)
class TransferRouteAdmin(admin.ModelAdmin):
    list_display = ["source", "destination", "lead_time_days"]
    list_select_related = ["source", "destination"]
    list_filter = ["source"]
