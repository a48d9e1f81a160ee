from django.urls import path

from workers import api, views

app_name = "workers"

urlpatterns = [
    path("api/orders", api.orders, name="api_orders"),
    path("api/orders/<int:order_id>", api.order_detail, name="api_order"),
    path("api/cart", api.cart, name="api_cart"),
    path("api/cart/items", api.cart_items, name="api_cart_items"),
    path("checkout/", views.checkout, name="checkout"),
    path("workers/streams/", views.streams_page, name="streams"),
    path("workers/streams/replay/", views.replay, name="replay"),
    path("patterns/check-and-set/", views.check_and_set_page, name="check_and_set"),
]
