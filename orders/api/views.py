"""Storefront cart API: an anonymous device cart (X-Cart-Token) or the signed-in shopper's cart.

Signing in on a device that holds an anonymous cart merges it into the shopper's cart.
"""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from customers import services as customer_services
from customers.models import Channel
from inventory.models import Variant
from omni.api.schema import ERROR_RESPONSES
from orders import services
from orders.exceptions import CartNotFound
from orders.models import Cart, CartStatus

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
    sku = serializers.SlugRelatedField(
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
    """The cart this request works on (merging a device cart into the shopper's on sign-in)."""
    token = request.headers.get("X-Cart-Token")
    device_cart = None
    if token:
        device_cart = Cart.objects.filter(token=token, status=CartStatus.OPEN).first()
        if device_cart is None:
            merged = Cart.objects.filter(token=token, status=CartStatus.MERGED).first()
            device_cart = merged.merged_into if merged and merged.merged_into_id else None
        if device_cart is None:
            raise CartNotFound()
    shopper = _shopper(request)
    if shopper is not None:
        if device_cart is not None:
            return services.claim_cart(cart=device_cart, customer=shopper, channel=channel)
        return services.open_cart(customer=shopper, channel=channel)
    if device_cart is None:
        raise CartNotFound(_("Send the X-Cart-Token of your cart, or sign in."))
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
