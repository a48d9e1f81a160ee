"""The key registry: every key family the project writes, declared once, beside its builder.

Each app's ``keys.py`` builds every key name through ``config.redis.key`` and
declares the family of each builder with ``@family``::

    @family("shop:product:{<id>}", type="string", ttl="SHOP_CACHE_TTL ± 10% + 60 s stale",
            writer="redis_patterns.cache (shop.selectors, shop.services)")
    def product_key(product_id: int) -> str:
        \"\"\"The product as a JSON cache envelope (or "not found").\"\"\"
        return key("shop", "product", f"{{{int(product_id)}}}")

The declaration is data (as redisolar's ``KeySchema`` is one list of keys):
the ``manage.py keys`` table, the no-TTL and big-keys reports of the ops
pages, the README and the test that refuses undeclared keys all read this one
registry, so they cannot disagree.

``pattern`` is the key without the deployment's ``REDIS_KEY_PREFIX``, with a
``<name>`` placeholder for each variable part.  ``expires=False`` marks a
family that is permanent by design (a leaderboard, a fence counter); its
``ttl`` text says why.  ``type`` is the Redis type (``TYPE`` reply), or
``"channel"`` for a pub/sub channel (no storage).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

from django.apps import apps

TYPES = frozenset({"string", "hash", "list", "set", "zset", "stream", "channel",
                   "ReJSON-RL", "MBbloom--", "TSDB-TYPE", "search-index"})

F = TypeVar("F", bound=Callable[..., str])


@dataclass(frozen=True)
class KeyFamily:
    """One kind of key: its name pattern, Redis type, TTL policy and who writes it."""

    pattern: str
    type: str
    ttl: str
    writer: str
    expires: bool
    builder: str  # "shop.keys.product_key"
    doc: str

    @property
    def app(self) -> str:
        return self.builder.split(".", 1)[0]

    @cached_property
    def glob(self) -> str:
        """The ``SCAN MATCH`` pattern (without the deployment prefix)."""
        return re.sub(r"<[^>]*>", "*", self.pattern.replace("[", r"\[").replace("?", r"\?"))

    @cached_property
    def regex(self) -> re.Pattern[str]:
        parts = re.split(r"<[^>]*>", self.pattern)
        return re.compile("^" + ".+".join(re.escape(p) for p in parts) + "$")

    @property
    def specificity(self) -> int:
        """How much of the pattern is literal: the most specific family wins a match."""
        return len(re.sub(r"<[^>]*>", "", self.pattern))


_REGISTRY: dict[str, KeyFamily] = {}


def family(pattern: str, *, type: str, ttl: str, writer: str, expires: bool = True) -> Callable[[F], F]:
    """Declare the key family built by the decorated function (see the module docstring).

    A builder that returns several related names (a bundle of keys) stacks one
    ``@family`` per name.
    """
    if type not in TYPES:
        raise ValueError(f"unknown Redis type {type!r} for {pattern!r}")

    def decorate(builder: F) -> F:
        name = f"{builder.__module__}.{builder.__qualname__}"
        doc = (builder.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        if pattern in _REGISTRY and _REGISTRY[pattern].builder != name:
            raise ValueError(f"key pattern {pattern!r} declared twice ({_REGISTRY[pattern].builder}, {name})")
        _REGISTRY[pattern] = KeyFamily(pattern=pattern, type=type, ttl=ttl, writer=writer, expires=expires,
                                    builder=name, doc=doc)
        return builder

    return decorate


def declare(pattern: str, *, type: str, ttl: str, writer: str, expires: bool = True, builder: str) -> None:
    """Declare a family whose names a library builds (a pattern module, Celery, the channel layer)."""
    family(pattern, type=type, ttl=ttl, writer=writer, expires=expires)(_named(builder))


def _named(builder: str) -> Callable[..., str]:
    module, _, name = builder.rpartition(".")

    def stand_in() -> str:
        raise NotImplementedError(f"{builder} builds these names")

    stand_in.__module__, stand_in.__qualname__, stand_in.__doc__ = module, name, f"Built by ``{builder}``."
    return stand_in


_imported: set[str] = set()


def families() -> list[KeyFamily]:
    """Every declared family of the installed apps (their ``keys`` modules imported), by pattern."""
    for config in apps.get_app_configs():
        if config.name in _imported:
            continue  # a failed import is not cached by Python: try each app once (audits call this per key)
        try:
            importlib.import_module(f"{config.name}.keys")
        except ModuleNotFoundError as exc:
            if exc.name != f"{config.name}.keys":
                raise
        _imported.add(config.name)
    return sorted(_REGISTRY.values(), key=lambda f: f.pattern)


def family_of(name: str, *, prefix: str = "") -> KeyFamily | None:
    """The family a key (or channel) name belongs to, or ``None`` for an undeclared one."""
    if prefix:
        if not name.startswith(prefix + ":"):
            return None
        name = name[len(prefix) + 1:]
    matches = [f for f in families() if f.regex.match(name)]
    return max(matches, key=lambda f: f.specificity, default=None)
