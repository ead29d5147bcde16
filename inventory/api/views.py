from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import viewsets

from inventory import selectors
from inventory.api.filters import LocationFilter, ProductFilter, VariantFilter
from inventory.api.serializers import (
    LocationSerializer,
    ProductSerializer,
    ProductWriteSerializer,
    VariantSerializer,
)
from omni.api.schema import ERROR_RESPONSES


@extend_schema_view(
    list=extend_schema(
        summary="List the catalog", responses={200: ProductSerializer(many=True), **ERROR_RESPONSES}
    ),
    retrieve=extend_schema(
        summary="One product with its variants",
        responses={200: ProductSerializer, **ERROR_RESPONSES},
    ),
    create=extend_schema(
        request=ProductWriteSerializer, responses={201: ProductWriteSerializer, **ERROR_RESPONSES}
    ),
    update=extend_schema(
        request=ProductWriteSerializer, responses={200: ProductWriteSerializer, **ERROR_RESPONSES}
    ),
    partial_update=extend_schema(
        request=ProductWriteSerializer, responses={200: ProductWriteSerializer, **ERROR_RESPONSES}
    ),
    destroy=extend_schema(responses={204: None, **ERROR_RESPONSES}),
)
class ProductViewSet(viewsets.ModelViewSet):
    """The catalog: public reads; staff with catalog permissions write (e.g. an ERP sync)."""

    filterset_class = ProductFilter

    def get_queryset(self):
        staff_view = self.request.user.has_perm("inventory.change_product")
        return selectors.catalog_products(include_inactive=staff_view and self.action != "list")

    def get_serializer_class(self):
        if self.action in ("list", "retrieve"):
            return ProductSerializer
        return ProductWriteSerializer


@extend_schema_view(
    list=extend_schema(
        summary="List variants (SKUs)",
        responses={200: VariantSerializer(many=True), **ERROR_RESPONSES},
    ),
    retrieve=extend_schema(
        summary="One variant", responses={200: VariantSerializer, **ERROR_RESPONSES}
    ),
    create=extend_schema(responses={201: VariantSerializer, **ERROR_RESPONSES}),
    update=extend_schema(responses={200: VariantSerializer, **ERROR_RESPONSES}),
    partial_update=extend_schema(responses={200: VariantSerializer, **ERROR_RESPONSES}),
    destroy=extend_schema(responses={204: None, **ERROR_RESPONSES}),
)
class VariantViewSet(viewsets.ModelViewSet):
    """Variants by SKU or barcode (a till scans a GTIN); staff with permissions write."""

    serializer_class = VariantSerializer
    filterset_class = VariantFilter

    def get_queryset(self):
        staff_view = self.request.user.has_perm("inventory.change_variant")
        return selectors.catalog_variants(include_inactive=staff_view and self.action != "list")


@extend_schema_view(
    list=extend_schema(
        summary="Stores and warehouses",
        responses={200: LocationSerializer(many=True), **ERROR_RESPONSES},
    ),
    retrieve=extend_schema(
        summary="One location", responses={200: LocationSerializer, **ERROR_RESPONSES}
    ),
)
class LocationViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = LocationSerializer
    filterset_class = LocationFilter
    queryset = selectors.active_locations()
