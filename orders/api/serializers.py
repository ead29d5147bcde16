"""Input and output shapes of the orders API (carts live in views.py with their views).

Input serializers only check the shape of a request; the rules (stock, coupons, pickup points,
order states) are the services' and come back as DomainErrors.
"""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from customers.models import Channel, Customer
from inventory.models import Location, Variant
from inventory.selectors import location_by_code
from omni.api.fields import SlugRelatedField
from orders.models import Fulfilment
from orders.services import MAX_LINE_QUANTITY

MONEY = {"max_digits": 12, "decimal_places": 2}


# --- Shared pieces ----------------------------------------------------------------------------


class AddressSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    line1 = serializers.CharField(max_length=200)
    line2 = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    postal_code = serializers.CharField(max_length=20)
    city = serializers.CharField(max_length=100)
    country = serializers.CharField(max_length=2, min_length=2)
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")


class PointSerializer(serializers.Serializer):
    """An optional point (the shopper's position or the delivery address): both or neither."""

    latitude = serializers.FloatField(min_value=-90, max_value=90, required=False, allow_null=True)
    longitude = serializers.FloatField(
        min_value=-180, max_value=180, required=False, allow_null=True
    )

    def validate(self, data):
        if (data.get("latitude") is None) != (data.get("longitude") is None):
            raise serializers.ValidationError(
                {"longitude": [_("Give both latitude and longitude, or neither.")]}
            )
        return data


class TotalsSerializer(serializers.Serializer):
    """The totals of a pricing quote (orders.pricing.Quote) or of an order."""

    subtotal = serializers.DecimalField(**MONEY)
    discount_total = serializers.DecimalField(**MONEY)
    shipping_total = serializers.DecimalField(**MONEY)
    tax_total = serializers.DecimalField(**MONEY, help_text="VAT included in the total.")
    total = serializers.DecimalField(**MONEY)


# --- Storefront: before checkout --------------------------------------------------------------


class CartPickupOptionSerializer(serializers.Serializer):
    label = serializers.CharField(help_text="e.g. “Ready today at Tienda Gran Vía, 1.2 km”.")
    code = serializers.CharField(help_text="The location code to send to checkout.")
    name = serializers.CharField()
    city = serializers.CharField()
    address = serializers.CharField()
    distance_km = serializers.FloatField()
    ready_today = serializers.BooleanField()
    ready_on = serializers.DateField()
    via_transfer = serializers.BooleanField()


class ShippingOptionSerializer(serializers.Serializer):
    fee = serializers.DecimalField(**MONEY, help_text="The standard shipping fee.")
    free_from = serializers.DecimalField(
        **MONEY, help_text="Baskets from this amount (after discounts) ship free."
    )
    free = serializers.BooleanField(help_text="This cart ships free.")
    missing_for_free = serializers.DecimalField(
        **MONEY, help_text="What to add to the cart to ship it free (0 when it already does)."
    )
    totals = TotalsSerializer(help_text="The cart's totals when shipped.")


class CouponCheckSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=40)
    fulfilment = serializers.ChoiceField(
        choices=[Fulfilment.PICKUP, Fulfilment.SHIP],
        default=Fulfilment.PICKUP,
        help_text="How the order would be fulfilled (shipping is quoted for “ship”).",
    )


class CouponValueSerializer(serializers.Serializer):
    code = serializers.CharField()
    discount = serializers.DecimalField(**MONEY)
    free_shipping = serializers.BooleanField()
    totals = TotalsSerializer()


# --- Storefront: checkout ---------------------------------------------------------------------


class LocationCodeField(SlugRelatedField):
    """A location by its code, read with one prepared statement (on every checkout)."""

    def to_internal_value(self, data):
        code = self.clean_slug(data)
        found = location_by_code(code)
        if found is None:
            self.not_found(code)
        return found


class CheckoutSerializer(PointSerializer):
    fulfilment = serializers.ChoiceField(choices=[Fulfilment.PICKUP, Fulfilment.SHIP])
    location = LocationCodeField(
        slug_field="code",
        queryset=Location.objects.all(),
        required=False,
        allow_null=True,
        help_text="Code of the pickup store (from pickup-options); required for pickup.",
    )
    shipping_address = AddressSerializer(required=False, allow_null=True)
    coupon = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")
    pay_at_pickup = serializers.BooleanField(default=False)
    email = serializers.EmailField(
        max_length=254,
        required=False,
        allow_blank=True,
        default="",
        help_text="Required (or phone) without a signed-in shopper: the order and the pickup "
        "code are sent there. Ignored for a signed-in shopper (their account's e-mail is used).",
    )
    phone = serializers.CharField(
        max_length=32,
        required=False,
        allow_blank=True,
        default="",
        help_text="E.164 or a Spanish number; like email, for shoppers who are not signed in.",
    )

    def validate(self, data):
        data = super().validate(data)
        if data["fulfilment"] == Fulfilment.PICKUP and data.get("location") is None:
            raise serializers.ValidationError({"location": [_("Required for pickup.")]})
        if data["fulfilment"] == Fulfilment.SHIP and not data.get("shipping_address"):
            raise serializers.ValidationError({"shipping_address": [_("Required for shipping.")]})
        if data["fulfilment"] == Fulfilment.SHIP and data["pay_at_pickup"]:
            raise serializers.ValidationError(
                {"pay_at_pickup": [_("Only orders collected at a store are paid there.")]}
            )
        return data


class CancelSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


# --- Orders out -------------------------------------------------------------------------------


class OrderLocationSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


class OrderLineSerializer(serializers.Serializer):
    sku = serializers.CharField()
    name = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price = serializers.DecimalField(**MONEY)
    discount = serializers.DecimalField(**MONEY)
    tax_rate = serializers.DecimalField(max_digits=5, decimal_places=2)
    total = serializers.DecimalField(**MONEY)
    state = serializers.CharField()
    returned_quantity = serializers.IntegerField()


class OrderEventSerializer(serializers.Serializer):
    status = serializers.CharField()
    note = serializers.CharField()
    at = serializers.DateTimeField()


class OrderSummarySerializer(serializers.Serializer):
    """One order in a list: no lines or history (a constant number of queries per page)."""

    number = serializers.CharField()
    status = serializers.CharField()
    status_display = serializers.CharField(source="get_status_display")
    channel = serializers.CharField()
    fulfilment = serializers.CharField()
    location = OrderLocationSerializer(allow_null=True)
    payment_state = serializers.CharField()
    total = serializers.DecimalField(**MONEY)
    promised_on = serializers.DateField(allow_null=True)
    hold_until = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class OrderSerializer(OrderSummarySerializer):
    """An order as its shopper sees it."""

    ready_at = serializers.DateTimeField(allow_null=True)
    shipping_address = serializers.DictField(child=serializers.CharField())
    coupon = serializers.CharField(source="coupon.code", allow_null=True, default=None)
    lines = OrderLineSerializer(many=True)
    totals = TotalsSerializer(source="*")
    refunded_total = serializers.DecimalField(**MONEY)
    history = OrderEventSerializer(many=True)


class StaffOrderSummarySerializer(OrderSummarySerializer):
    customer = serializers.IntegerField(source="customer_id")
    external_reference = serializers.CharField()


class StaffOrderSerializer(OrderSerializer):
    """An order as the store and the back office see it."""

    customer = serializers.IntegerField(source="customer_id")
    external_reference = serializers.CharField()
    routing_reason = serializers.CharField()
    code_attempts = serializers.IntegerField(help_text="Wrong pickup codes tried since ready.")


def order_queryset(queryset):
    """What OrderSerializer reads, in a fixed number of queries."""
    return queryset.select_related("location", "coupon").prefetch_related("lines", "history")


# --- Staff and integrations -------------------------------------------------------------------


class ReadySerializer(serializers.Serializer):
    number = serializers.CharField()
    status = serializers.CharField()
    pickup_code = serializers.CharField(
        help_text="Shown once (e.g. to print on the bag); the shopper gets it by e-mail/SMS."
    )
    hold_until = serializers.DateTimeField()


class CollectSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")
    identity_checked = serializers.BooleanField(
        default=False, help_text="Staff checked the shopper's ID instead of the code."
    )

    def validate(self, data):
        if not data["code"].strip() and not data["identity_checked"]:
            raise serializers.ValidationError(
                {"code": [_("Give the pickup code, or check the shopper's identity.")]}
            )
        return data


class BuyerSerializer(serializers.Serializer):
    marketplace_id = serializers.CharField(max_length=255, required=False, allow_blank=True)
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True)

    KINDS = {"marketplace_id": "marketplace", "email": "email", "phone": "phone"}

    def validate(self, data):
        identifiers = [(self.KINDS[f], v.strip()) for f, v in data.items() if v and v.strip()]
        if not identifiers:
            raise serializers.ValidationError(
                _("Give the buyer's marketplace id, e-mail or phone.")
            )
        return identifiers


class ImportLineSerializer(serializers.Serializer):
    sku = SlugRelatedField(
        slug_field="sku", queryset=Variant.objects.select_related("product"), source="variant"
    )
    quantity = serializers.IntegerField(min_value=1, max_value=999)
    unit_price = serializers.DecimalField(max_digits=10, decimal_places=2, min_value=0)


class ImportSerializer(PointSerializer):
    channel = serializers.ChoiceField(choices=[Channel.MARKETPLACE, Channel.SOCIAL])
    external_reference = serializers.CharField(max_length=100)
    buyer = BuyerSerializer()
    lines = ImportLineSerializer(many=True, allow_empty=False, max_length=200)
    shipping_address = AddressSerializer()


# --- Tills: counter sales ---------------------------------------------------------------------

COUNTER_SALE_MAX_LINES = 50


class CounterSaleLineSerializer(serializers.Serializer):
    sku = SlugRelatedField(
        slug_field="sku", queryset=Variant.objects.select_related("product"), source="variant"
    )
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_LINE_QUANTITY)


class CounterSaleSerializer(serializers.Serializer):
    store = LocationCodeField(
        slug_field="code",
        queryset=Location.objects.all(),
        help_text="Code of the store where the sale happens (one the user works at).",
    )
    customer = serializers.IntegerField(
        min_value=1, max_value=2**63 - 1, help_text="The customer's id (walk-in sales: not yet)."
    )
    lines = CounterSaleLineSerializer(
        many=True, allow_empty=False, max_length=COUNTER_SALE_MAX_LINES
    )
    coupon_code = serializers.CharField(
        max_length=40,
        required=False,
        allow_blank=True,
        default="",
        help_text="A coupon code; a personal code only for its customer.",
    )

    def validate_customer(self, value) -> Customer:
        customer = Customer.objects.filter(pk=value).first()
        if customer is None:
            raise serializers.ValidationError(_("No such customer."))
        return customer


class CounterSaleOrderSerializer(StaffOrderSerializer):
    """The order of a counter sale (completed: paid and handed over)."""

    discount_total = serializers.DecimalField(**MONEY)
