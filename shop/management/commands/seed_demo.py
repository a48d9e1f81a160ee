"""``python manage.py seed_demo [--products N]``: the demo catalog, idempotent.

Creates a dozen categories, tags, ``N`` products (default 1,000) spread over
the categories, and 60 stores at real city coordinates.  Deterministic (a
fixed random seed), so product ``i`` is always the same product; running it
again only adds what is missing, which is why ``make run`` can run it on
every start.  Bulk inserts in batches, with a progress bar.
"""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from tqdm import tqdm

from shop import services
from shop.models import Category, Product, Store, Tag

CATEGORIES: dict[str, list[str]] = {
    "Audio": ["Headphones", "Earbuds", "Speaker", "Soundbar", "Turntable", "Amplifier"],
    "Books": ["Cookbook", "Novel", "Field Guide", "Atlas", "Poetry Collection", "Biography"],
    "Cameras": ["Mirrorless Camera", "Lens", "Tripod", "Camera Bag", "Flash", "Action Cam"],
    "Coffee": ["Espresso Machine", "Grinder", "Pour-Over Set", "Kettle", "Bean Blend", "Milk Frother"],
    "Cycling": ["Road Bike", "Helmet", "Bike Light", "Saddle", "Pump", "Jersey"],
    "Furniture": ["Desk", "Chair", "Bookshelf", "Side Table", "Lamp", "Sofa"],
    "Garden": ["Hose", "Planter", "Pruner", "Seed Kit", "Watering Can", "Bird Feeder"],
    "Games": ["Board Game", "Puzzle", "Card Game", "Controller", "Dice Set", "Chess Set"],
    "Kitchen": ["Chef's Knife", "Skillet", "Dutch Oven", "Cutting Board", "Blender", "Stock Pot"],
    "Outdoors": ["Tent", "Sleeping Bag", "Backpack", "Headlamp", "Water Filter", "Camp Stove"],
    "Running": ["Running Shoes", "Shorts", "Watch", "Hydration Vest", "Socks", "Cap"],
    "Toys": ["Building Set", "Plush Bear", "Kite", "Train Set", "Robot Kit", "Yo-yo"],
}
ADJECTIVES = ["Classic", "Compact", "Deluxe", "Everyday", "Featherweight", "Heritage", "Midnight", "Nordic",
              "Pro", "Rugged", "Solar", "Studio", "Summit", "Trail", "Urban", "Vintage", "Wild", "Zen"]
TAGS = ["bestseller", "new", "eco", "gift", "sale", "premium", "handmade", "limited", "bundle", "refurbished",
        "kids", "outdoor", "wireless", "travel", "vegan", "local", "classic", "compact", "durable", "smart"]
# 60 real cities: (store name, city, longitude, latitude).
STORES: list[tuple[str, float, float]] = [
    ("Amsterdam", 4.9041, 52.3676), ("Athens", 23.7275, 37.9838), ("Auckland", 174.7633, -36.8485),
    ("Bangkok", 100.5018, 13.7563), ("Barcelona", 2.1734, 41.3851), ("Beijing", 116.4074, 39.9042),
    ("Berlin", 13.4050, 52.5200), ("Bogotá", -74.0721, 4.7110), ("Boston", -71.0589, 42.3601),
    ("Brussels", 4.3517, 50.8503), ("Budapest", 19.0402, 47.4979), ("Buenos Aires", -58.3816, -34.6037),
    ("Cairo", 31.2357, 30.0444), ("Cape Town", 18.4241, -33.9249), ("Chicago", -87.6298, 41.8781),
    ("Copenhagen", 12.5683, 55.6761), ("Da Nang", 108.2022, 16.0544), ("Dublin", -6.2603, 53.3498),
    ("Edinburgh", -3.1883, 55.9533), ("Hanoi", 105.8342, 21.0278), ("Helsinki", 24.9384, 60.1699),
    ("Ho Chi Minh City", 106.6297, 10.8231), ("Hong Kong", 114.1694, 22.3193), ("Istanbul", 28.9784, 41.0082),
    ("Jakarta", 106.8456, -6.2088), ("Johannesburg", 28.0473, -26.2041), ("Kyoto", 135.7681, 35.0116),
    ("Lagos", 3.3792, 6.5244), ("Lima", -77.0428, -12.0464), ("Lisbon", -9.1393, 38.7223),
    ("London", -0.1276, 51.5072), ("Los Angeles", -118.2437, 34.0522), ("Madrid", -3.7038, 40.4168),
    ("Manchester", -2.2426, 53.4808), ("Melbourne", 144.9631, -37.8136), ("Mexico City", -99.1332, 19.4326),
    ("Milan", 9.1900, 45.4642), ("Montreal", -73.5673, 45.5017), ("Mumbai", 72.8777, 19.0760),
    ("Munich", 11.5820, 48.1351), ("Nairobi", 36.8219, -1.2921), ("New York", -74.0060, 40.7128),
    ("Osaka", 135.5023, 34.6937), ("Oslo", 10.7522, 59.9139), ("Paris", 2.3522, 48.8566),
    ("Prague", 14.4378, 50.0755), ("Rome", 12.4964, 41.9028), ("San Francisco", -122.4194, 37.7749),
    ("São Paulo", -46.6333, -23.5505), ("Seattle", -122.3321, 47.6062), ("Seoul", 126.9780, 37.5665),
    ("Singapore", 103.8198, 1.3521), ("Stockholm", 18.0686, 59.3293), ("Sydney", 151.2093, -33.8688),
    ("Taipei", 121.5654, 25.0330), ("Tokyo", 139.6503, 35.6762), ("Toronto", -79.3832, 43.6532),
    ("Vancouver", -123.1207, 49.2827), ("Vienna", 16.3738, 48.2082), ("Warsaw", 21.0122, 52.2297),
]
BATCH = 500


def product_spec(i: int, categories: list[Category]) -> dict[str, Any]:
    """Product number ``i`` (deterministic: the same ``i`` always gives the same product)."""
    rng = random.Random(i)  # noqa: S311 - demo data, not security
    category = categories[i % len(categories)]
    noun = rng.choice(CATEGORIES[category.name])
    adjective = rng.choice(ADJECTIVES)
    name = f"{adjective} {noun} {i:04d}"
    return {
        "category": category,
        "name": name,
        "slug": f"{adjective}-{noun}-{i:04d}".lower().replace(" ", "-").replace("'", ""),
        "description": (f"The {adjective.lower()} {noun.lower()} from our {category.name.lower()} range. "
                        f"Demo product {i}: made up, but cached for real."),
        "price": Decimal(rng.randrange(299, 49_999)) / 100,
        "stock": rng.randrange(0, 250),
        "image_hue": rng.randrange(0, 360),
        "tags": rng.sample(TAGS, rng.randrange(1, 4)),
    }


class Command(BaseCommand):
    help = "Load the demo catalog (categories, tags, products, stores). Idempotent."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--products", type=int, default=1000, help="how many products (default 1000)")
        parser.add_argument("--quiet", action="store_true", help="no progress bar")

    def handle(self, *args: Any, products: int, quiet: bool, **options: Any) -> None:
        if products < 0:
            self.stderr.write("--products must be >= 0")
            return
        with transaction.atomic():
            for name in CATEGORIES:
                Category.objects.get_or_create(slug=name.lower(), defaults={"name": name})
            Tag.objects.bulk_create([Tag(name=t) for t in TAGS], ignore_conflicts=True)
            Store.objects.bulk_create(
                [Store(name=f"Redis Shop {city}", city=city, longitude=lon, latitude=lat)
                 for city, lon, lat in STORES if not Store.objects.filter(city=city).exists()]
            )
        categories = list(Category.objects.filter(slug__in=[n.lower() for n in CATEGORIES]).order_by("name"))
        tags = {t.name: t for t in Tag.objects.all()}
        existing = set(Product.objects.values_list("slug", flat=True))
        created = 0
        bar = tqdm(total=products, desc="products", unit="product", disable=quiet or products == 0)
        for start in range(0, products, BATCH):
            specs = [product_spec(i, categories) for i in range(start + 1, min(products, start + BATCH) + 1)]
            new = [s for s in specs if s["slug"] not in existing]
            if new:
                with transaction.atomic():
                    Product.objects.bulk_create(
                        [Product(**{k: v for k, v in s.items() if k != "tags"}) for s in new],
                        ignore_conflicts=True,
                    )
                    by_slug = dict(Product.objects.filter(slug__in=[s["slug"] for s in new])
                                   .values_list("slug", "id"))
                    Product.tags.through.objects.bulk_create(
                        [Product.tags.through(product_id=by_slug[s["slug"]], tag_id=tags[t].pk)
                         for s in new if s["slug"] in by_slug for t in s["tags"]],
                        ignore_conflicts=True,
                    )
                    created += len(new)
            bar.update(len(specs))
        bar.close()
        if created:
            services.catalog_changed()  # cached lists are superseded (runs at once: no transaction open)
        self._redis_indexes(rebuild_names=bool(created))
        self.stdout.write(f"seed_demo: {len(categories)} categories, {Product.objects.count()} products "
                          f"({created} new), {Store.objects.count()} stores, {len(tags)} tags")

    def _redis_indexes(self, *, rebuild_names: bool) -> None:
        """The Redis indexes of the database rows (idempotent): the stores' geo set, the names, search."""
        from redis.exceptions import RedisError

        from config.redis import get_redis
        from shop import autocomplete, keys, stores

        try:
            count = stores.stores_rebuild()
            if rebuild_names or not get_redis().exists(keys.autocomplete_index()):
                autocomplete.autocomplete_rebuild()
            if rebuild_names:
                get_redis().delete(keys.search_built())  # the next search rebuilds its documents
        except RedisError as exc:
            self.stderr.write(f"seed_demo: Redis indexes not built ({exc}); searches rebuild them when Redis is back")
            return
        self.stdout.write(f"seed_demo: {count} stores in the geo set, product names indexed for autocomplete")
