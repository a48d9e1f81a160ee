"""Shop fixtures: a small seeded catalog, fresh per-process cache objects, staff and plain users."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from tests.processes import clean_db, shared_db, web_server  # noqa: F401 - fixtures


@pytest.fixture(autouse=True)
def _fresh_cache_objects():
    # The breaker, the local tier and its listener are per process: start each test clean.
    from shop import caching

    caching.reset()
    yield
    caching.reset()


@pytest.fixture
def catalog(db):
    """12 categories, 36 products, 60 stores (seed_demo's own data)."""
    call_command("seed_demo", products=36, quiet=True, stdout=open("/dev/null", "w"))  # noqa: SIM115
    from shop.models import Product

    return list(Product.objects.order_by("id"))


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_user("staff", password="pw-staff-123", is_staff=True)
    client.force_login(user)
    return client


@pytest.fixture
def user_client(client, django_user_model):
    user = django_user_model.objects.create_user("shopper", password="pw-user-123")
    client.force_login(user)
    return client
