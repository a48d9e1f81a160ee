"""``{% product_image product category %}``: the catalog's placeholder pictures, with a name and a category look.

The catalog has no image files.  Each product gets a drawn card instead: its
category's pattern and label (``static/shop/shop.css``), a colour from its
``image_hue``, and its short name (the name without the catalog number).  The
colour is one of 24 classes rather than an inline ``style``, so the pages run
under a Content-Security-Policy without ``'unsafe-inline'`` styles.
"""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()

HUE_STEPS = 24


def short_name(name: str) -> str:
    """``"Deluxe Novel 0001"`` -> ``"Deluxe Novel"`` (the demo catalog numbers its products)."""
    head, _, tail = name.rpartition(" ")
    return head if head and tail.isdigit() else name


@register.inclusion_tag("shop/_product_image.html")
def product_image(product: Any, category: Any = None, size: str = "") -> dict[str, Any]:
    """A product's picture. ``product``: a product payload, a list row, or a ``Product``."""
    def get(obj: Any, name: str, default: Any = "") -> Any:
        return obj.get(name, default) if isinstance(obj, dict) else getattr(obj, name, default)

    category = category if category is not None else get(product, "category", None)
    name = str(get(product, "name"))
    hue = int(get(product, "image_hue", 0) or 0)
    return {
        "name": name,
        "short": short_name(name),
        "category_name": str(get(category, "name")) if category is not None else "",
        "category_slug": str(get(category, "slug")) if category is not None else "",
        "hue": (hue % 360) * HUE_STEPS // 360,
        "size": size,
    }
