from django.urls import path

from customers.api import views

urlpatterns = [
    path("events/", views.EventBatchView.as_view(), name="events"),
    path("me/", views.MeView.as_view(), name="me"),
    path("me/identities/", views.MyIdentitiesView.as_view(), name="me-identities"),
    path("me/consents/", views.MyConsentsView.as_view(), name="me-consents"),
    path("me/export/", views.MyExportView.as_view(), name="me-export"),
    path("me/phone/", views.MyPhoneView.as_view(), name="me-phone"),
    path("me/phone/verify/", views.MyPhoneVerifyView.as_view(), name="me-phone-verify"),
]
