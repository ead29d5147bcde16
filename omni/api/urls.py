from django.urls import include, path
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.reverse import reverse


@extend_schema(exclude=True)
@api_view(["GET"])
@permission_classes([AllowAny])
def api_root(request, format=None):
    """Entry point of the API: links to the collections and the docs."""
    return Response(
        {
            "products": reverse("api:product-list", request=request),
            "variants": reverse("api:variant-list", request=request),
            "locations": reverse("api:location-list", request=request),
            "schema": reverse("schema", request=request),
            "docs": reverse("swagger-ui", request=request),
        }
    )


app_name = "api"
urlpatterns = [
    path("", api_root, name="root"),
    path("", include("inventory.api.urls")),
    path("", include("customers.api.urls")),
    path("", include("orders.api.urls")),
    path("", include("campaigns.api.urls")),
]
