"""URLs of the lock and queue demo pages, included from ``config/urls.py``."""

from django.urls import path

from workers import views_locks

app_name = "workers_locks"

urlpatterns = [
    path("patterns/locks/", views_locks.locks_page, name="locks"),
    path("patterns/queues/", views_locks.queues_page, name="queues"),
]
