from django.urls import path

from orders.api import views

urlpatterns = [
    path("carts/", views.CartCreateView.as_view(), name="cart-create"),
    path("carts/current/", views.CurrentCartView.as_view(), name="cart-current"),
    path("carts/current/lines/", views.CartLinesView.as_view(), name="cart-lines"),
]
