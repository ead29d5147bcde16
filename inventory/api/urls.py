from rest_framework.routers import SimpleRouter

from inventory.api import views

router = SimpleRouter(trailing_slash="/?")
router.register("products", views.ProductViewSet, basename="product")
router.register("variants", views.VariantViewSet, basename="variant")
router.register("locations", views.LocationViewSet, basename="location")

urlpatterns = router.urls
