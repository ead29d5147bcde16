from django.contrib import admin

from omni.admin_mixins import ReadOnlyAdminMixin
from orders.models import Cart, CartLine


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
