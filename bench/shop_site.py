"""Settings for ``bench/shop_cache.py``'s servers: the real settings, plus ``bench/shop_urls.py``.

``bench/shop_urls.py`` serves everything the site serves (same middleware,
templates, context processors) and adds the trivial baselines.
"""

from config.settings import *  # noqa: F403 - the real settings, one override below

ROOT_URLCONF = "bench.shop_urls"
