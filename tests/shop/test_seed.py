"""seed_demo: the data set, and idempotence (make run calls it on every start)."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from shop.models import Category, Product, Store, Tag

pytestmark = pytest.mark.django_db


def seed(**kwargs) -> str:
    out = io.StringIO()
    call_command("seed_demo", quiet=True, stdout=out, **kwargs)
    return out.getvalue()


def test_seed_is_idempotent_and_grows_with_products():
    seed(products=50)
    first = (Category.objects.count(), Product.objects.count(), Store.objects.count(), Tag.objects.count())
    names = list(Product.objects.order_by("slug").values_list("name", "price"))
    assert "(0 new)" in seed(products=50)
    assert (Category.objects.count(), Product.objects.count(), Store.objects.count(), Tag.objects.count()) == first
    assert list(Product.objects.order_by("slug").values_list("name", "price")) == names
    assert first[0] == 12 and first[1] == 50 and first[2] >= 50
    assert "(30 new)" in seed(products=80)
    assert Product.objects.count() == 80
    assert Product.objects.filter(category__slug="audio").count() >= 6
    assert all(-180 <= s.longitude <= 180 and -90 <= s.latitude <= 90 for s in Store.objects.all())
