"""Shopper-facing tracking links and provider webhooks, included by omni/urls.py under ``c/``."""

from django.urls import path

from campaigns import views

urlpatterns = [
    path("u/<str:token>/", views.unsubscribe, name="campaigns-unsubscribe"),
    path("webhooks/email/", views.EmailWebhookView.as_view(), name="campaigns-email-webhook"),
]
