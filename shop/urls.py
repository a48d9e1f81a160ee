"""The shop's pages and its JSON API (included at the site root by ``config/urls.py``)."""

from django.urls import path

from shop import api, views

app_name = "shop"

urlpatterns = [
    path("shop/", views.category_list, name="categories"),
    path("shop/c/<slug:category_slug>/", views.product_list, name="product_list"),
    path("shop/products/<int:product_id>/", views.product_detail, name="product_detail"),
    path("cart/", views.cart, name="cart"),
    path("orders/", views.order_list, name="orders"),
    path("orders/<int:order_id>/", views.order_detail, name="order"),
    path("checkout/", views.checkout, name="checkout"),
    path("patterns/caching/", views.caching_demo, name="caching"),
    path("patterns/stampede/", views.stampede_demo, name="stampede"),
    path("patterns/hot-keys/", views.hotkeys_demo, name="hotkeys"),
    # <str:...>: the view validates the id, so a bad one gets a JSON 400, not an HTML 404.
    path("api/products/<str:product_id>", api.product_detail, name="api_product"),
    path("api/cart", api.cart, name="api_cart"),
    path("api/cart/items", api.cart_items, name="api_cart_items"),
    path("api/orders", api.orders, name="api_orders"),
    path("api/orders/<int:order_id>", api.order_detail, name="api_order"),
]
