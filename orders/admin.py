from django.contrib import admin

from omni.admin_mixins import ReadOnlyAdminMixin
from orders.models import Cart, CartLine, Coupon, CouponRedemption, Promotion
from orders.pricing import normalise_code


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
