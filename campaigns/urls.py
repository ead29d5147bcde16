"""Shopper-facing tracking links and provider webhooks, included by omni/urls.py under ``c/``."""

from django.urls import path

from campaigns import views

urlpatterns = [
    path("u/<str:token>/", views.unsubscribe, name="campaigns-unsubscribe"),
    path("o/<str:token>.gif", views.open_pixel, name="campaigns-open"),
    path("c/<str:token>/", views.click, name="campaigns-click"),
    path("webhooks/email/", views.EmailWebhookView.as_view(), name="campaigns-email-webhook"),
]
