from django.urls import path
from rest_framework.routers import SimpleRouter

from inventory.api import stock, views

router = SimpleRouter()
router.trailing_slash = "/?"  # optional slash; the constructor only knows "/" or ""
router.register("products", views.ProductViewSet, basename="product")
router.register("variants", views.VariantViewSet, basename="variant")
router.register("locations", views.LocationViewSet, basename="location")

urlpatterns = [
    path(
        "variants/<int:pk>/availability/",
        stock.VariantAvailabilityView.as_view(),
        name="variant-availability",
    ),
    path("availability/", stock.PooledAvailabilityView.as_view(), name="availability"),
    path("pickup-options/", stock.PickupOptionsView.as_view(), name="pickup-options"),
    path("stock/receipts/", stock.StockReceiptView.as_view(), name="stock-receipt"),
    path("stock/adjustments/", stock.StockAdjustmentView.as_view(), name="stock-adjustment"),
    *router.urls,
]
