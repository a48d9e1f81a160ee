"""The shop's pages and its JSON API (included at the site root by ``config/urls.py``)."""

from django.urls import path

from shop import api, structure_api, structure_views, views

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
    # The data structures at work (shop/structure_views.py, shop/structure_api.py).
    path("shop/stores/", structure_views.store_locator, name="stores"),
    path("shop/visitors/", structure_views.unique_visitors, name="visitors"),
    path("shop/activity/", structure_views.activity_page, name="activity"),
    path("shop/recent/", structure_views.recent_and_top, name="recent"),
    path("shop/tags/", structure_views.tags_page, name="tags"),
    path("shop/search/", structure_views.search_page, name="search"),
    path("shop/modules/", structure_views.modules_page, name="modules"),
    path("patterns/encodings/", structure_views.encodings_page, name="encodings"),
    path("api/stores/nearby", structure_api.stores_nearby, name="api_stores_nearby"),
    path("api/analytics/visitors", structure_api.analytics_visitors, name="api_visitors"),
    path("api/products", structure_api.products_by_tags, name="api_products"),
    # Before api/products/<str:product_id>, which would otherwise take "autocomplete" as an id.
    path("api/products/autocomplete", structure_api.products_autocomplete, name="api_autocomplete"),
    # <str:...>: the view validates the id, so a bad one gets a JSON 400, not an HTML 404.
    path("api/products/<str:product_id>", api.product_detail, name="api_product"),
    path("api/cart", api.cart, name="api_cart"),
    path("api/cart/items", api.cart_items, name="api_cart_items"),
    path("api/orders", api.orders, name="api_orders"),
    path("api/orders/<int:order_id>", api.order_detail, name="api_order"),
]
