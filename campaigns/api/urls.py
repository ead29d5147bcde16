from django.urls import path

from campaigns.api import views

urlpatterns = [
    path("segments/", views.SegmentListView.as_view(), name="segment-list"),
    path("segments/preview/", views.SegmentPreviewView.as_view(), name="segment-preview"),
    path("segments/<int:pk>/", views.SegmentDetailView.as_view(), name="segment-detail"),
    path("segments/<int:pk>/count/", views.SegmentCountView.as_view(), name="segment-count"),
]
