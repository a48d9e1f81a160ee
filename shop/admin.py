"""Staff editing of the catalog.

Registrations for staff editing; product edits will apply the cache write
strategy (see shop/services.py) once the caching layer lands.
"""

from __future__ import annotations

from django.contrib import admin

from shop.models import Category, Order, OrderItem, Product, Store, Tag


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name"]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    search_fields = ["name"]


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "category", "price", "stock", "view_count", "updated_at"]
    list_filter = ["category"]
    search_fields = ["name", "slug"]
    autocomplete_fields = ["tags"]
    readonly_fields = ["view_count", "updated_at"]
    list_select_related = ["category"]


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ["name", "city", "longitude", "latitude"]
    search_fields = ["name", "city"]


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
