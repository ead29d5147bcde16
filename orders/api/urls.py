from django.urls import path

from orders.api import promotions, views

urlpatterns = [
    # Storefront
    path("carts/", views.CartCreateView.as_view(), name="cart-create"),
    path("carts/current/", views.CurrentCartView.as_view(), name="cart-current"),
    path("carts/current/lines/", views.CartLinesView.as_view(), name="cart-lines"),
    path(
        "carts/current/pickup-options/",
        views.CartPickupOptionsView.as_view(),
        name="cart-pickup-options",
    ),
    path("carts/current/shipping/", views.CartShippingView.as_view(), name="cart-shipping"),
    path("coupons/check/", views.CouponCheckView.as_view(), name="coupon-check"),
    path("checkout/", views.CheckoutView.as_view(), name="checkout"),
    path("me/orders/", views.MyOrderListView.as_view(), name="my-order-list"),
    path("me/orders/<str:number>/", views.MyOrderDetailView.as_view(), name="my-order-detail"),
    path(
        "me/orders/<str:number>/cancel/",
        views.MyOrderCancelView.as_view(),
        name="my-order-cancel",
    ),
    # Staff and integrations
    path("orders/", views.OrderListView.as_view(), name="order-list"),
    path("orders/import/", views.OrderImportView.as_view(), name="order-import"),
    path("counter-sales/", views.CounterSaleView.as_view(), name="counter-sale"),
    path("orders/<str:number>/", views.OrderDetailView.as_view(), name="order-detail"),
    path("orders/<str:number>/ready/", views.OrderReadyView.as_view(), name="order-ready"),
    path("orders/<str:number>/collect/", views.OrderCollectView.as_view(), name="order-collect"),
    path("promotions/", promotions.PromotionListView.as_view(), name="promotion-list"),
    path("promotions/<int:pk>/", promotions.PromotionDetailView.as_view(), name="promotion-detail"),
]
