from rest_framework import serializers

from inventory.models import Category, Location, Product, Variant
from omni.api.fields import SlugRelatedField


class CategorySerializer(serializers.ModelSerializer):
    class Meta:
        model = Category
        fields = ["id", "name", "slug", "parent"]


class VariantSerializer(serializers.ModelSerializer):
    class Meta:
        model = Variant
        fields = ["id", "product", "sku", "gtin", "size", "colour", "price", "active"]


class NestedVariantSerializer(serializers.ModelSerializer):
    class Meta:
        model = Variant
        fields = ["id", "sku", "gtin", "size", "colour", "price"]


class ProductSerializer(serializers.ModelSerializer):
    category = CategorySerializer(read_only=True)
    variants = NestedVariantSerializer(many=True, read_only=True)
    price_from = serializers.DecimalField(
        max_digits=10, decimal_places=2, read_only=True, allow_null=True
    )
    price_to = serializers.DecimalField(
        max_digits=10, decimal_places=2, read_only=True, allow_null=True
    )

    class Meta:
        model = Product
        fields = [
            "id",
            "name",
            "slug",
            "brand",
            "description",
            "tax_class",
            "category",
            "price_from",
            "price_to",
            "variants",
        ]


class ProductWriteSerializer(serializers.ModelSerializer):
    category = SlugRelatedField(slug_field="slug", queryset=Category.objects.all())

    class Meta:
        model = Product
        fields = ["id", "name", "slug", "brand", "description", "tax_class", "category", "active"]


class LocationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Location
        fields = [
            "id",
            "kind",
            "code",
            "name",
            "address",
            "city",
            "postal_code",
            "country",
            "latitude",
            "longitude",
            "timezone",
            "opening_hours",
            "is_pickup_point",
            "ships_to_customers",
            "sells_online",
        ]
