"""Staff editing of the catalog.

Every product save or delete in the admin calls ``shop.services.product_changed``,
so the write strategy in force (explicit delete or write-through, after the
commit) runs on staff edits exactly as it does for the API's PATCH; category
edits supersede the cached lists (``catalog_changed``); store edits move the
store in the locator's geo set (``shop.stores.store_changed``).
"""

from __future__ import annotations

from django.contrib import admin

from shop.models import Category, Order, OrderItem, Product, Store, Tag


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name"]

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        super().save_model(request, obj, form, change)
        from shop import services

        services.catalog_changed()


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    search_fields = ["name"]

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        super().save_model(request, obj, form, change)
        from shop import services

        services.catalog_changed()  # a new generation: the tag sets are rebuilt with the new name


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "category", "price", "stock", "view_count", "updated_at"]
    list_filter = ["category"]
    search_fields = ["name", "slug"]
    autocomplete_fields = ["tags"]
    readonly_fields = ["view_count", "updated_at"]
    list_select_related = ["category"]

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        super().save_model(request, obj, form, change)
        # Imported here: admin is loaded early, services pull in Redis helpers.
        from shop import services

        # After the commit (ModelAdmin wraps the whole change view in a
        # transaction, tags included): apply the write strategy to the cache.
        services.product_changed(product_id=obj.pk)

    def delete_model(self, request, obj):  # type: ignore[no-untyped-def]
        from shop import services

        pk = obj.pk
        super().delete_model(request, obj)
        services.product_changed(product_id=pk)

    def delete_queryset(self, request, queryset):  # type: ignore[no-untyped-def]
        # The "delete selected" action bypasses delete_model: invalidate each row too.
        from shop import services

        ids = list(queryset.values_list("pk", flat=True))
        super().delete_queryset(request, queryset)
        for pk in ids:
            services.product_changed(product_id=pk)


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    """Store edits reach the locator's geo set after the commit (``shop.stores.store_changed``)."""

    list_display = ["name", "city", "longitude", "latitude"]
    search_fields = ["name", "city"]

    def save_model(self, request, obj, form, change):  # type: ignore[no-untyped-def]
        super().save_model(request, obj, form, change)
        from shop import stores

        stores.store_changed(store_id=obj.pk)

    def delete_model(self, request, obj):  # type: ignore[no-untyped-def]
        from shop import stores

        pk = obj.pk
        super().delete_model(request, obj)
        stores.store_changed(store_id=pk)

    def delete_queryset(self, request, queryset):  # type: ignore[no-untyped-def]
        from shop import stores

        ids = list(queryset.values_list("pk", flat=True))
        super().delete_queryset(request, queryset)
        for pk in ids:
            stores.store_changed(store_id=pk)


class OrderItemInline(admin.TabularInline):
    model = OrderItem
    extra = 0
    raw_id_fields = ["product"]


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["id", "owner", "status", "total", "created_at"]
    list_filter = ["status"]
    search_fields = ["owner", "idempotency_key"]
    inlines = [OrderItemInline]
