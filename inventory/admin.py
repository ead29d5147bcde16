from django.contrib import admin
from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from inventory.models import Category, Location, Product, Variant
from inventory.selectors import locations_for_user


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
