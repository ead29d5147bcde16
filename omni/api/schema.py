"""OpenAPI pieces shared by every endpoint."""

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

ErrorSerializer = inline_serializer(
    name="Error",
    fields={
        "error": inline_serializer(
            name="ErrorDetail",
            fields={
                "code": serializers.CharField(),
                "message": serializers.CharField(),
                "fields": serializers.DictField(child=serializers.JSONField()),
            },
        )
    },
)

ERROR_RESPONSES = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid input"),
    403: OpenApiResponse(ErrorSerializer, description="Not allowed"),
    404: OpenApiResponse(ErrorSerializer, description="Not found"),
}
CONFLICT = {409: OpenApiResponse(ErrorSerializer, description="Not possible in this state")}
TOO_LARGE = {413: OpenApiResponse(ErrorSerializer, description="Request body too large")}
TOO_MANY = {429: OpenApiResponse(ErrorSerializer, description="Too many attempts; try later")}
