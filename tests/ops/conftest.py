"""Ops fixtures: a staff client (there are no demo accounts: tests make their own), the process fixtures."""

from __future__ import annotations

import pytest

from tests.processes import clean_db, shared_db, start_worker, web_server  # noqa: F401 - fixtures


@pytest.fixture
def staff_client(client, django_user_model, settings):
    # The staff session in the database: these tests count and list the app's own Redis keys, and
    # the staff pages must stay reachable while a test stops Redis (Redis sessions go with it).
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.db"
    user = django_user_model.objects.create_user("ops-staff", password="pw-ops-staff-1", is_staff=True)
    client.force_login(user)
    return client
