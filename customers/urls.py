"""Shopper-facing pages of the customers app (not the API), included by omni/urls.py."""

from django.urls import path

from customers import views

urlpatterns = [
    path(
        "consent/confirm/<str:token>/",
        views.confirm_consent,
        name="customers-confirm-consent",
    ),
]
