"""Orders API.

Storefront (anyone; the cart from ``X-Cart-Token`` or the signed-in shopper): carts, pickup
options, shipping, coupon checks, checkout and the shopper's own orders. Signing in on a device
that holds an anonymous cart merges it into the shopper's cart.

Staff and integrations (``orders.*`` permissions; scoped by ``orders.selectors.orders_for_user``):
the order list and detail, ready / collect at the pickup desk, and orders imported from
marketplaces and social shops.

Views only translate HTTP to the services and selectors and back.
"""

import hashlib
from decimal import Decimal

import django_filters
from django.conf import settings
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, permissions, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from customers import services as customer_services
from customers.models import Channel, IdentityKind
from inventory import selectors as inventory_selectors
from inventory.api.stock import PickupPointSerializer
from inventory.models import Variant
from omni.api.fields import SlugRelatedField
from omni.api.idempotency import idempotent_response
from omni.api.representation import represent
from omni.api.schema import CONFLICT, ERROR_RESPONSES, ErrorSerializer
from omni.idempotency import HEADER as IDEMPOTENCY_HEADER
from omni.idempotency import clean_key
from orders import pricing, rules, selectors, services
from orders.api import serializers as io
from orders.exceptions import CartNotFound, EmptyCart, IdempotencyKeyRequired, OrderNotFound
from orders.models import Cart, CartStatus, Fulfilment, Order, OrderStatus

TOKEN_HEADER = OpenApiParameter("X-Cart-Token", str, OpenApiParameter.HEADER, required=False)


class CartLineSerializer(serializers.Serializer):
    sku = serializers.CharField(source="variant.sku")
    name = serializers.CharField(source="variant.product.name")
    size = serializers.CharField(source="variant.size")
    colour = serializers.CharField(source="variant.colour")
    unit_price = serializers.DecimalField(source="variant.price", max_digits=10, decimal_places=2)
    quantity = serializers.IntegerField()


class CartSerializer(serializers.Serializer):
    token = serializers.CharField()
    channel = serializers.CharField()
    lines = serializers.SerializerMethodField()

    def get_lines(self, cart) -> list[dict]:
        lines = cart.lines.select_related("variant__product").order_by("pk")
        return CartLineSerializer(lines, many=True).data


class CartCreateSerializer(serializers.Serializer):
    anonymous_id = serializers.CharField(max_length=255, required=False)
    channel = serializers.ChoiceField(choices=Channel.choices, default=Channel.WEB)


class CartLineInputSerializer(serializers.Serializer):
    sku = SlugRelatedField(
        slug_field="sku",
        queryset=Variant.objects.select_related("product"),
        source="variant",
    )
    quantity = serializers.IntegerField(min_value=0, max_value=services.MAX_LINE_QUANTITY)
    channel = serializers.ChoiceField(choices=Channel.choices, default=Channel.WEB)


def _shopper(request):
    if request.user.is_authenticated and not request.user.is_staff:
        return customer_services.customer_for_user(request.user)
    return None


def current_cart(request, channel=Channel.WEB) -> Cart:
    """The cart this request works on (merging a device cart into the shopper's on sign-in).
    A token alone opens only an unclaimed profile's cart (customers.services.profiles rule)."""
    token = request.headers.get("X-Cart-Token")
    device_cart = None
    if token:
        found = selectors.cart_by_token(token)  # on every storefront cart call
        if found is not None and found.status in (CartStatus.OPEN, CartStatus.ABANDONED):
            device_cart = found  # an abandoned cart opens again on its next change
        elif found is not None and found.status == CartStatus.MERGED and found.merged_into_id:
            device_cart = selectors.cart_by_pk(found.merged_into_id)
        if device_cart is None:
            raise CartNotFound()
    shopper = _shopper(request)
    if shopper is not None:
        if device_cart is not None:
            return services.claim_cart(cart=device_cart, customer=shopper, channel=channel)
        return services.open_cart(customer=shopper, channel=channel)
    if device_cart is None:
        raise CartNotFound(_("Send the X-Cart-Token of your cart, or sign in."))
    rules.check_bearer_access(customer_id=device_cart.customer_id)
    return device_cart


class CartCreateView(APIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        summary="Start (or find) a cart for this device or the signed-in shopper",
        request=CartCreateSerializer,
        responses={201: CartSerializer, **ERROR_RESPONSES},
    )
    def post(self, request):
        payload = CartCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        shopper = _shopper(request)
        if shopper is not None:
            cart = services.open_cart(customer=shopper, channel=data["channel"])
        elif data.get("anonymous_id"):
            cart = services.cart_for_device(
                anonymous_id=data["anonymous_id"], channel=data["channel"]
            )
        else:
            raise ValidationError({"anonymous_id": [_("Required when not signed in.")]})
        return Response(CartSerializer(cart).data, status=status.HTTP_201_CREATED)


class CurrentCartView(APIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        summary="The current cart", parameters=[TOKEN_HEADER], responses={200: CartSerializer}
    )
    def get(self, request):
        return Response(CartSerializer(current_cart(request)).data)


class CartLinesView(APIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        summary="Add units of a SKU to the cart",
        parameters=[TOKEN_HEADER],
        request=CartLineInputSerializer,
        responses={200: CartSerializer, **ERROR_RESPONSES},
    )
    def post(self, request):
        data = self._input(request)
        cart = current_cart(request, data["channel"])
        cart = services.add_to_cart(
            cart=cart, variant=data["variant"], quantity=data["quantity"], channel=data["channel"]
        )
        return Response(CartSerializer(cart).data)

    @extend_schema(
        summary="Set a SKU's quantity in the cart (0 removes it)",
        parameters=[TOKEN_HEADER],
        request=CartLineInputSerializer,
        responses={200: CartSerializer, **ERROR_RESPONSES},
    )
    def put(self, request):
        data = self._input(request)
        cart = current_cart(request, data["channel"])
        cart = services.set_line_quantity(
            cart=cart, variant=data["variant"], quantity=data["quantity"], channel=data["channel"]
        )
        return Response(CartSerializer(cart).data)

    @staticmethod
    def _input(request):
        payload = CartLineInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        return payload.validated_data


# --- Shared helpers ---------------------------------------------------------------------------

IDEMPOTENCY_KEY = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="Send one to retry safely: a retry gets the first response back "
    "(header Idempotent-Replayed); the same key with another body is a 422.",
)
NUMBER = OpenApiParameter("number", str, OpenApiParameter.PATH, description="Order number")
KEY_REUSED = {422: OpenApiResponse(ErrorSerializer, description="Idempotency-Key reused")}


def _priced_lines(cart: Cart) -> list[pricing.PricedLine]:
    """The cart's lines at today's prices; an empty cart is an error for every caller here."""
    lines = [
        pricing.PricedLine(line.variant, line.quantity, line.variant.price)
        for line in cart.lines.select_related("variant__product").order_by("variant_id")
    ]
    if not lines:
        raise EmptyCart()
    return lines


def _totals(quote: pricing.Quote) -> dict:
    return io.TotalsSerializer(quote).data


def _order_body(serializer_class, order: Order, *, placed: bool = False) -> dict:
    """The order as the response shows it, read back from the database — unless ``placed``:
    an order the checkout just created carries its lines and history (``prefetch_placed``)."""
    if not (placed and services.prefetch_placed(order)):
        order = io.order_queryset(Order.objects).get(pk=order.pk)
    return represent(serializer_class, order)


# --- Storefront: pickup options, shipping, coupons --------------------------------------------


def _ready_day(day) -> str:
    """“Thursday” (in the active language) within the coming week, else the full date."""
    if 0 <= (day - timezone.localdate()).days < 7:
        return formats.date_format(day, "l")
    return formats.date_format(day, "l j F")


def pickup_label(option: inventory_selectors.PickupOption) -> str:
    """The line a storefront shows for a pickup option, e.g. “Ready today at Sol, 1.2 km”."""
    values = {
        "store": option.name,
        "distance": formats.number_format(option.distance_km, 1),
        "day": _ready_day(option.ready_on),
    }
    if option.via_transfer:
        if option.ready_today:
            return _("Ready today via transfer") % values
        return _("Ready %(day)s via transfer") % values
    if option.ready_today:
        return _("Ready today at %(store)s, %(distance)s km") % values
    return _("Ready %(day)s at %(store)s, %(distance)s km") % values


class CartPickupOptionsView(APIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        summary="Where can I collect this cart near a point?",
        description="Nearest pickup points first, those ready today first; the others say the "
        "day a transfer would make the cart ready. Send the chosen `code` to checkout.",
        parameters=[TOKEN_HEADER, PickupPointSerializer],
        responses={200: io.CartPickupOptionSerializer(many=True), **ERROR_RESPONSES},
    )
    def get(self, request):
        query = PickupPointSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        cart = current_cart(request)
        lines: dict[int, int] = {}
        for line in _priced_lines(cart):
            lines[line.variant.pk] = lines.get(line.variant.pk, 0) + line.quantity
        options = inventory_selectors.pickup_options(lines=lines, **query.validated_data)
        data = [{"label": pickup_label(option), **option.__dict__} for option in options]
        return Response(io.CartPickupOptionSerializer(data, many=True).data)


class CartShippingView(APIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        summary="Shipping the current cart: the fee, when it is free, and the totals",
        parameters=[TOKEN_HEADER],
        responses={200: io.ShippingOptionSerializer, **ERROR_RESPONSES},
    )
    def get(self, request):
        lines = _priced_lines(current_cart(request))
        quote = pricing.quote(lines, ships=True)
        free_from = Decimal(settings.FREE_SHIPPING_FROM)
        data = {
            "fee": Decimal(settings.SHIPPING_FEE),
            "free_from": free_from,
            "free": not quote.shipping_total,
            "missing_for_free": max(
                Decimal("0.00"), free_from - quote.subtotal + quote.discount_total
            ),
            "totals": _totals(quote),
        }
        return Response(io.ShippingOptionSerializer(data).data)


class CouponCheckView(APIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        summary="What a coupon code is worth for the current cart (nothing is redeemed)",
        parameters=[TOKEN_HEADER],
        request=io.CouponCheckSerializer,
        responses={200: io.CouponValueSerializer, **ERROR_RESPONSES, **CONFLICT},
    )
    def post(self, request):
        payload = io.CouponCheckSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        cart = current_cart(request)
        lines = _priced_lines(cart)
        discount = pricing.check_coupon(
            code=data["code"], lines=lines, channel=cart.channel, customer=cart.customer
        )
        quote = pricing.quote(lines, discount=discount, ships=data["fulfilment"] == Fulfilment.SHIP)
        body = {
            "code": discount.coupon.code,
            "discount": discount.amount,
            "free_shipping": discount.free_shipping,
            "totals": _totals(quote),
        }
        return Response(io.CouponValueSerializer(body).data)


# --- Storefront: checkout ---------------------------------------------------------------------


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def _contact(data: dict) -> list[tuple[str, str]]:
    found = []
    if data["email"].strip():
        found.append((IdentityKind.EMAIL, data["email"].strip()))
    if data["phone"].strip():
        found.append((IdentityKind.PHONE, data["phone"].strip()))
    return found


class CheckoutView(APIView):
    """Place an order from the current cart: pickup at a store or shipping to an address."""

    permission_classes = [permissions.AllowAny]

    @extend_schema(
        summary="Check out the current cart",
        description="All lines are reserved or none; a coupon is redeemed once. Without a "
        "signed-in shopper, `email` or `phone` is required (the pickup code is sent there).",
        parameters=[TOKEN_HEADER, IDEMPOTENCY_KEY],
        request=io.CheckoutSerializer,
        responses={201: io.OrderSerializer, **ERROR_RESPONSES, **CONFLICT, **KEY_REUSED},
    )
    def post(self, request):
        payload = io.CheckoutSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        shopper = _shopper(request)
        contact: list[tuple[str, str]] = []
        if shopper is None:
            contact = _contact(data)
            if not contact:
                raise ValidationError(
                    {"email": [_("Give an e-mail address or a phone number for the order.")]}
                )
            token = request.headers.get("X-Cart-Token")
            if not token:
                raise CartNotFound(_("Send the X-Cart-Token of your cart, or sign in."))
            # Two anonymous carts never share keys: the scope is the cart (its token, hashed).
            scope_tag = f"cart:{_digest(token)}"
        else:  # idempotent_response adds the user to the scope
            scope_tag = "shopper"
        key = clean_key(request.headers.get(IDEMPOTENCY_HEADER))

        def action():
            cart = current_cart(request)
            if contact:
                cart = services.attach_guest_contact(cart=cart, contact=contact)
            order = services.place_order(
                cart=cart,
                fulfilment=data["fulfilment"],
                location=data.get("location"),
                shipping_address=data.get("shipping_address"),
                latitude=data.get("latitude"),
                longitude=data.get("longitude"),
                coupon_code=data["coupon"],
                pay_at_pickup=data["pay_at_pickup"],
                # Per customer in the service: scoped like the API's key, so two carts of one
                # person (merged profiles) never collide on a client's key.
                idempotency_key=_digest(f"{scope_tag}:{key}") if key else "",
            )
            return status.HTTP_201_CREATED, _order_body(io.OrderSerializer, order, placed=True)

        return idempotent_response(request, scope=f"orders.checkout:{scope_tag}", action=action)


# --- Storefront: my orders --------------------------------------------------------------------


class ShopperPermission(permissions.IsAuthenticated):
    message = gettext_lazy("Sign in as a shopper first.")


def _my_orders(request):
    customer = customer_services.customer_for_user(request.user)
    return io.order_queryset(selectors.shopper_orders(customer))


def _my_order(request, number: str) -> Order:
    order = _my_orders(request).filter(number=number).first()
    if order is None:
        raise OrderNotFound()
    return order


class MyOrderListView(generics.ListAPIView):
    permission_classes = [ShopperPermission]
    serializer_class = io.OrderSummarySerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Order.objects.none()
        customer = customer_services.customer_for_user(self.request.user)
        return selectors.shopper_orders(customer)

    @extend_schema(
        summary="My orders, newest first",
        responses={200: io.OrderSummarySerializer(many=True), **ERROR_RESPONSES},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class MyOrderDetailView(APIView):
    permission_classes = [ShopperPermission]

    @extend_schema(
        summary="One of my orders",
        parameters=[NUMBER],
        responses={200: io.OrderSerializer, **ERROR_RESPONSES},
    )
    def get(self, request, number: str):
        return Response(io.OrderSerializer(_my_order(request, number)).data)


class MyOrderCancelView(APIView):
    permission_classes = [ShopperPermission]

    @extend_schema(
        summary="Cancel one of my orders (until it is ready for pickup)",
        parameters=[NUMBER],
        request=io.CancelSerializer,
        responses={200: io.OrderSerializer, **ERROR_RESPONSES, **CONFLICT},
    )
    def post(self, request, number: str):
        payload = io.CancelSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        order = services.cancel_order(
            order=_my_order(request, number),
            by_shopper=True,
            reason=payload.validated_data["reason"],
            acting_user=request.user,
        )
        return Response(_order_body(io.OrderSerializer, order))


# --- Staff and integrations -------------------------------------------------------------------


class OrderPermission(permissions.BasePermission):
    """A signed-in user (or integration token) holding the view's ``required_permission``."""

    def has_permission(self, request, view):
        return bool(
            request.user
            and request.user.is_authenticated
            and request.user.has_perm(view.required_permission)
        )


class OrderFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=OrderStatus.choices)
    fulfilment = django_filters.ChoiceFilter(choices=Fulfilment.choices)
    location = django_filters.CharFilter(
        field_name="location__code", label=gettext_lazy("Pickup or counter store (code)")
    )
    channel = django_filters.ChoiceFilter(choices=Channel.choices)

    class Meta:
        model = Order
        fields = ["status", "fulfilment", "location", "channel"]


def _staff_order(request, number: str) -> Order:
    order = io.order_queryset(selectors.orders_for_user(request.user)).filter(number=number).first()
    if order is None:
        raise OrderNotFound()
    return order


class OrderListView(generics.ListAPIView):
    permission_classes = [OrderPermission]
    required_permission = "orders.view_order"
    serializer_class = io.StaffOrderSummarySerializer
    filterset_class = OrderFilter

    def get_queryset(self):
        return selectors.orders_for_user(self.request.user).select_related("location")

    @extend_schema(
        summary="Orders of the stores I work at, newest first",
        responses={200: io.StaffOrderSummarySerializer(many=True), **ERROR_RESPONSES},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class OrderDetailView(APIView):
    permission_classes = [OrderPermission]
    required_permission = "orders.view_order"

    @extend_schema(
        summary="One order with its lines and history",
        parameters=[NUMBER],
        responses={200: io.StaffOrderSerializer, **ERROR_RESPONSES},
    )
    def get(self, request, number: str):
        return Response(io.StaffOrderSerializer(_staff_order(request, number)).data)


class OrderReadyView(APIView):
    permission_classes = [OrderPermission]
    required_permission = "orders.change_order"

    @extend_schema(
        summary="Picked: the order waits at the desk (returns the pickup code, once)",
        parameters=[NUMBER],
        request=None,
        responses={200: io.ReadySerializer, **ERROR_RESPONSES, **CONFLICT},
    )
    def post(self, request, number: str):
        order = _staff_order(request, number)
        code = services.mark_ready(order=order, acting_user=request.user)
        order.refresh_from_db()
        body = {
            "number": order.number,
            "status": order.status,
            "pickup_code": code,
            "hold_until": order.hold_until,
        }
        return Response(io.ReadySerializer(body).data)


class OrderCollectView(APIView):
    """Hand the order over. Wrong codes count even though the call fails (so this view must not
    run inside an outer transaction); after too many the code is locked for a while."""

    permission_classes = [OrderPermission]
    required_permission = "orders.change_order"

    @extend_schema(
        summary="Hand the order over after checking the pickup code (or the shopper's ID)",
        parameters=[NUMBER],
        request=io.CollectSerializer,
        responses={
            200: io.StaffOrderSerializer,
            **ERROR_RESPONSES,
            **CONFLICT,
            429: OpenApiResponse(ErrorSerializer, description="Too many wrong codes"),
        },
    )
    def post(self, request, number: str):
        payload = io.CollectSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        order = services.collect(
            order=_staff_order(request, number),
            code=data["code"],
            identity_checked=data["identity_checked"],
            acting_user=request.user,
        )
        return Response(_order_body(io.StaffOrderSerializer, order))


class OrderImportView(APIView):
    """Orders taken on a marketplace or a social shop, shipped from the shared stock pool."""

    permission_classes = [OrderPermission]
    required_permission = "orders.add_order"

    @extend_schema(
        summary="Import a marketplace / social order (idempotent by external_reference)",
        description="201 the first time; 200 with the same order when the same "
        "`external_reference` comes again from the same channel.",
        parameters=[IDEMPOTENCY_KEY],
        request=io.ImportSerializer,
        responses={
            201: io.StaffOrderSerializer,
            200: io.StaffOrderSerializer,
            **ERROR_RESPONSES,
            **CONFLICT,
            **KEY_REUSED,
        },
    )
    def post(self, request):
        payload = io.ImportSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data

        def action():
            order, created = services.import_external_order(
                channel=data["channel"],
                external_reference=data["external_reference"],
                buyer=data["buyer"],
                lines=[
                    (line["variant"], line["quantity"], line["unit_price"])
                    for line in data["lines"]
                ],
                shipping_address=data["shipping_address"],
                latitude=data.get("latitude"),
                longitude=data.get("longitude"),
                acting_user=request.user,
            )
            code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
            return code, _order_body(io.StaffOrderSerializer, order)

        return idempotent_response(request, scope="orders.import", action=action)


REQUIRED_IDEMPOTENCY_KEY = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    str,
    OpenApiParameter.HEADER,
    required=True,
    description="Required: a retry with the same key gets the first response back (header "
    "Idempotent-Replayed) and sells nothing again; the same key with another body is a 422.",
)


class CounterSaleView(APIView):
    """A sale at a store's till: the units leave the store's shelf now, paid."""

    permission_classes = [OrderPermission]
    required_permission = "orders.sell_at_counter"

    @extend_schema(
        summary="Sell at a store's counter (till): paid and handed over at once",
        description="All or nothing: an unknown SKU, a unit the store does not hold or a coupon "
        "that is unknown, used or personal to another customer writes nothing. Only at a store "
        "the user works at (403 `not_your_store`).",
        parameters=[REQUIRED_IDEMPOTENCY_KEY],
        request=io.CounterSaleSerializer,
        responses={
            201: io.CounterSaleOrderSerializer,
            **ERROR_RESPONSES,
            **CONFLICT,
            **KEY_REUSED,
        },
    )
    def post(self, request):
        key = clean_key(request.headers.get(IDEMPOTENCY_HEADER))
        if key is None:
            raise IdempotencyKeyRequired()
        payload = io.CounterSaleSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data

        def action():
            order = services.sell_at_counter(
                customer=data["customer"],
                store=data["store"],
                lines=[(line["variant"], line["quantity"]) for line in data["lines"]],
                coupon_code=data["coupon_code"],
                acting_user=request.user,
                # Per customer in the service: scoped like the API's key (per user).
                idempotency_key=_digest(f"till:{request.user.pk}:{key}"),
            )
            body = _order_body(io.CounterSaleOrderSerializer, order, placed=True)
            return status.HTTP_201_CREATED, body

        return idempotent_response(request, scope="orders.counter_sale", action=action)
