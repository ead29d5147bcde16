"""Stock endpoints: public availability and pickup finder; staff receipts and adjustments."""

from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from inventory import selectors, services
from inventory.models import Location, MovementKind, Variant
from omni.api.fields import SlugRelatedField
from omni.api.idempotency import idempotent_response
from omni.api.schema import ERROR_RESPONSES

MAX_VARIANTS_PER_PAGE = 50


# --- Serializers ------------------------------------------------------------------------------


class LocationStockSerializer(serializers.Serializer):
    location = serializers.CharField(source="location.code")
    name = serializers.CharField(source="location.name")
    kind = serializers.CharField(source="location.kind")
    city = serializers.CharField(source="location.city")
    sells_online = serializers.BooleanField(source="location.sells_online")
    is_pickup_point = serializers.BooleanField(source="location.is_pickup_point")
    sellable = serializers.IntegerField(help_text="Units a remote channel may reserve now.")
    in_transit = serializers.IntegerField()


class VariantAvailabilitySerializer(serializers.Serializer):
    variant = serializers.IntegerField()
    sku = serializers.CharField()
    pooled = serializers.IntegerField(
        help_text="Sellable online across locations that sell online."
    )
    locations = LocationStockSerializer(many=True)


class PooledAvailabilitySerializer(serializers.Serializer):
    variant = serializers.IntegerField()
    sku = serializers.CharField()
    available = serializers.IntegerField()


class LineInputSerializer(serializers.Serializer):
    sku = SlugRelatedField(
        slug_field="sku", queryset=Variant.objects.filter(active=True), source="variant"
    )
    quantity = serializers.IntegerField(min_value=1, max_value=1000)


class PickupPointSerializer(serializers.Serializer):
    """Where to look for pickup points: a point, an optional radius, how many."""

    latitude = serializers.FloatField(min_value=-90, max_value=90)
    longitude = serializers.FloatField(min_value=-180, max_value=180)
    radius_km = serializers.FloatField(min_value=0.1, max_value=2000, required=False)
    limit = serializers.IntegerField(min_value=1, max_value=50, default=10)


class PickupQuerySerializer(PickupPointSerializer):
    """Pickup points near a point that can hand over these lines."""

    lines = LineInputSerializer(many=True, allow_empty=False, max_length=100)

    def validate_lines(self, lines):
        merged: dict[int, int] = {}
        for line in lines:
            merged[line["variant"].pk] = merged.get(line["variant"].pk, 0) + line["quantity"]
        return merged


class PickupOptionSerializer(serializers.Serializer):
    location = serializers.CharField(source="code")
    name = serializers.CharField()
    city = serializers.CharField()
    address = serializers.CharField()
    distance_km = serializers.FloatField()
    ready_today = serializers.BooleanField()
    ready_on = serializers.DateField()
    via_transfer = serializers.BooleanField()
    opening_hours = serializers.DictField(child=serializers.ListField())


class StockWriteSerializer(serializers.Serializer):
    location = SlugRelatedField(slug_field="code", queryset=Location.objects.filter(active=True))
    sku = SlugRelatedField(slug_field="sku", queryset=Variant.objects.all(), source="variant")
    reference = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class ReceiptSerializer(StockWriteSerializer):
    quantity = serializers.IntegerField(min_value=1, max_value=1_000_000)
    reason = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")


class AdjustmentSerializer(StockWriteSerializer):
    delta = serializers.IntegerField(min_value=-1_000_000, max_value=1_000_000)
    kind = serializers.ChoiceField(
        choices=[
            MovementKind.ADJUSTMENT,
            MovementKind.WRITE_OFF,
            MovementKind.RETURN,
            MovementKind.SALE,
        ],
        default=MovementKind.ADJUSTMENT,
    )
    reason = serializers.CharField(max_length=255)

    def validate_delta(self, value):
        if value == 0:
            raise ValidationError(_("The change must not be zero."))
        return value


class MovementSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    sku = serializers.CharField(source="variant.sku")
    location = serializers.CharField(source="location.code")
    delta = serializers.IntegerField()
    balance = serializers.IntegerField(help_text="On hand after the movement.")
    reference = serializers.CharField()
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()


# --- Views ------------------------------------------------------------------------------------


class VariantAvailabilityView(APIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        summary="Availability of a variant per location and pooled",
        responses={200: VariantAvailabilitySerializer, **ERROR_RESPONSES},
    )
    def get(self, request, pk: int):
        variant = Variant.objects.filter(pk=pk, active=True, product__active=True).first()
        if variant is None:
            raise NotFound(_("No such variant."))
        levels = list(selectors.variant_availability(variant.pk))
        pooled = sum(lvl.sellable for lvl in levels if lvl.location.sells_online_now)
        data = {"variant": variant.pk, "sku": variant.sku, "pooled": pooled, "locations": levels}
        return Response(VariantAvailabilitySerializer(data).data)


class PooledAvailabilityView(APIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        summary="Pooled online availability for up to 50 variants",
        parameters=[
            OpenApiParameter("variant", int, many=True, description="Variant ids (repeatable)"),
            OpenApiParameter("sku", str, many=True, description="SKUs (repeatable)"),
        ],
        responses={200: PooledAvailabilitySerializer(many=True), **ERROR_RESPONSES},
    )
    def get(self, request):
        ids = request.query_params.getlist("variant")
        skus = request.query_params.getlist("sku")
        if not ids and not skus:
            raise ValidationError({"variant": [_("Give at least one variant id or sku.")]})
        if len(ids) + len(skus) > MAX_VARIANTS_PER_PAGE:
            raise ValidationError({"variant": [_("At most 50 variants per request.")]})
        try:
            ids = [int(value) for value in ids]
        except ValueError:
            raise ValidationError({"variant": [_("Variant ids are whole numbers.")]}) from None
        variants = list(
            Variant.objects.filter(Q(pk__in=ids) | Q(sku__in=skus)).values_list("pk", "sku")
        )
        pooled = selectors.pooled_availability([pk for pk, _ in variants])
        return Response(
            [{"variant": pk, "sku": sku, "available": pooled[pk]} for pk, sku in variants]
        )


class PickupOptionsView(APIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        summary="Where can I collect these lines near a point?",
        request=PickupQuerySerializer,
        responses={200: PickupOptionSerializer(many=True), **ERROR_RESPONSES},
    )
    def post(self, request):
        query = PickupQuerySerializer(data=request.data)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        options = selectors.pickup_options(
            latitude=data["latitude"],
            longitude=data["longitude"],
            radius_km=data.get("radius_km"),
            limit=data["limit"],
            lines=data["lines"],
        )
        return Response(PickupOptionSerializer(options, many=True).data)


class StaffStockPermission(permissions.BasePermission):
    def has_permission(self, request, view):
        return request.user.is_authenticated and request.user.has_perm(
            "inventory.change_stocklevel"
        )


class _StockWriteView(APIView):
    permission_classes = [StaffStockPermission]
    serializer_class: type[StockWriteSerializer]
    scope: str

    def post(self, request):
        payload = self.serializer_class(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        if not selectors.locations_for_user(request.user).filter(pk=data["location"].pk).exists():
            raise PermissionDenied(_("You may not change stock at this location."))

        def action():
            movement = self.write(request, data)
            return status.HTTP_201_CREATED, MovementSerializer(movement).data

        return idempotent_response(request, scope=self.scope, action=action)


class StockReceiptView(_StockWriteView):
    serializer_class = ReceiptSerializer
    scope = "inventory.receipt"

    @extend_schema(
        summary="Receive stock (till, ERP); send an Idempotency-Key to retry safely",
        request=ReceiptSerializer,
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER)],
        responses={201: MovementSerializer, **ERROR_RESPONSES},
    )
    def post(self, request):
        return super().post(request)

    def write(self, request, data):
        return services.receive_stock(
            variant=data["variant"],
            location=data["location"],
            quantity=data["quantity"],
            reference=data["reference"],
            reason=data["reason"],
            acting_user=request.user,
        )


class StockAdjustmentView(_StockWriteView):
    serializer_class = AdjustmentSerializer
    scope = "inventory.adjustment"

    @extend_schema(
        summary="Adjust stock with a reason (write-off, till sale, return, correction)",
        request=AdjustmentSerializer,
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER)],
        responses={201: MovementSerializer, **ERROR_RESPONSES},
    )
    def post(self, request):
        return super().post(request)

    def write(self, request, data):
        return services.adjust_stock(
            variant=data["variant"],
            location=data["location"],
            delta=data["delta"],
            kind=data["kind"],
            reason=data["reason"],
            reference=data["reference"],
            acting_user=request.user,
        )
