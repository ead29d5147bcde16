"""Segments API for marketing tools and BI: read the segments, count one live, and preview the
count and a sample of an unsaved rule tree. Staff or integration tokens holding
``campaigns.view_segment``."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, permissions
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns import selectors
from campaigns.api import serializers as io
from campaigns.exceptions import SegmentNotFound
from omni.api.parsers import JSONParser
from omni.api.schema import ERROR_RESPONSES

SEGMENT_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="Segment id")


class SegmentPermission(permissions.BasePermission):
    """A signed-in user (or integration token) holding the view's ``required_permission``."""

    def has_permission(self, request, view):
        return bool(
            request.user
            and request.user.is_authenticated
            and request.user.has_perm(view.required_permission)
        )


def _segment(pk: int):
    segment = selectors.segments().filter(pk=pk).first()
    if segment is None:
        raise SegmentNotFound()
    return segment


class SegmentListView(generics.ListAPIView):
    permission_classes = [SegmentPermission]
    required_permission = "campaigns.view_segment"
    serializer_class = io.SegmentSerializer

    def get_queryset(self):
        return selectors.segments()

    @extend_schema(
        summary="Segments, by name",
        responses={200: io.SegmentSerializer(many=True), **ERROR_RESPONSES},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class SegmentDetailView(APIView):
    permission_classes = [SegmentPermission]
    required_permission = "campaigns.view_segment"

    @extend_schema(
        summary="One segment with its rule tree",
        parameters=[SEGMENT_ID],
        responses={200: io.SegmentSerializer, **ERROR_RESPONSES},
    )
    def get(self, request, pk: int):
        return Response(io.SegmentSerializer(_segment(pk)).data)


class SegmentCountView(APIView):
    permission_classes = [SegmentPermission]
    required_permission = "campaigns.view_segment"

    @extend_schema(
        summary="How many live customers the segment holds now (counted live)",
        parameters=[SEGMENT_ID],
        responses={200: io.SegmentCountSerializer, **ERROR_RESPONSES},
    )
    def get(self, request, pk: int):
        segment = _segment(pk)
        body = {"id": segment.pk, "count": selectors.count_saved_segment(segment)}
        return Response(io.SegmentCountSerializer(body).data)


class SegmentPreviewView(APIView):
    """Reads only (a POST because a rule tree does not fit a query string)."""

    permission_classes = [SegmentPermission]
    required_permission = "campaigns.view_segment"
    parser_classes = [JSONParser]

    @extend_schema(
        summary="Count and sample the customers of an unsaved rule tree",
        request=io.PreviewInputSerializer,
        responses={200: io.PreviewSerializer, **ERROR_RESPONSES},
    )
    def post(self, request):
        payload = io.PreviewInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        rules, n = payload.validated_data["rules"], payload.validated_data["sample"]
        body = {
            "count": selectors.count_segment(rules),
            "sample": selectors.sample_segment(rules, n),
        }
        return Response(io.PreviewSerializer(body).data)
