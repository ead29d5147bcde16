"""Promotions through the API (marketing tools): list, read, create and change, with the same
checks as the admin. ``channels`` only takes the real sales channels; anything else is a 400
naming the field."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, permissions, serializers

from inventory.models import Category, Product
from omni.api.schema import ERROR_RESPONSES
from orders import services
from orders.models import SALES_CHANNEL_CHOICES, Promotion


class PromotionPermission(permissions.DjangoModelPermissions):
    """Reading needs ``view_promotion`` too (promotions are not public)."""

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }


class PromotionSerializer(serializers.ModelSerializer):
    channels = serializers.ListField(
        child=serializers.ChoiceField(choices=SALES_CHANNEL_CHOICES),
        required=False,
        allow_empty=True,
        max_length=len(SALES_CHANNEL_CHOICES),
        help_text="Sales channels the codes are valid in; empty: every channel.",
    )
    categories = serializers.PrimaryKeyRelatedField(
        many=True, required=False, queryset=Category.objects.all()
    )
    products = serializers.PrimaryKeyRelatedField(
        many=True, required=False, queryset=Product.objects.all()
    )

    class Meta:
        model = Promotion
        fields = [
            "id",
            "name",
            "kind",
            "value",
            "min_basket",
            "categories",
            "products",
            "channels",
            "starts_at",
            "ends_at",
            "max_uses",
            "max_uses_per_customer",
            "times_used",
            "active",
        ]
        read_only_fields = ["id", "times_used"]

    def validate_channels(self, value):
        return list(dict.fromkeys(value))  # each channel once, in the order given

    def create(self, validated_data):
        return self._save(Promotion(), validated_data)

    def update(self, instance, validated_data):
        return self._save(instance, validated_data)

    def _save(self, promotion: Promotion, data: dict) -> Promotion:
        categories = data.pop("categories", None)
        products = data.pop("products", None)
        for name, value in data.items():
            setattr(promotion, name, value)
        return services.save_promotion(
            promotion=promotion,
            categories=categories,
            products=products,
            acting_user=self.context["request"].user,
        )


@extend_schema_view(
    get=extend_schema(
        summary="Promotions, newest first",
        responses={200: PromotionSerializer(many=True), **ERROR_RESPONSES},
    ),
    post=extend_schema(
        summary="Create a promotion", responses={201: PromotionSerializer, **ERROR_RESPONSES}
    ),
)
class PromotionListView(generics.ListCreateAPIView):
    permission_classes = [PromotionPermission]
    serializer_class = PromotionSerializer
    queryset = Promotion.objects.prefetch_related("categories", "products").order_by("-pk")


@extend_schema_view(
    get=extend_schema(
        summary="One promotion", responses={200: PromotionSerializer, **ERROR_RESPONSES}
    ),
    put=extend_schema(
        summary="Replace a promotion", responses={200: PromotionSerializer, **ERROR_RESPONSES}
    ),
    patch=extend_schema(
        summary="Change a promotion", responses={200: PromotionSerializer, **ERROR_RESPONSES}
    ),
)
class PromotionDetailView(generics.RetrieveUpdateAPIView):
    permission_classes = [PromotionPermission]
    serializer_class = PromotionSerializer
    queryset = Promotion.objects.prefetch_related("categories", "products")
