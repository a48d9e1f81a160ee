"""Ops fixtures: a staff client (there are no demo accounts: tests make their own), the process fixtures."""

from __future__ import annotations

import pytest

from tests.processes import clean_db, shared_db, start_worker, web_server  # noqa: F401 - fixtures


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_user("ops-staff", password="pw-ops-staff-1", is_staff=True)
    client.force_login(user)
    return client
