from django.contrib import admin
from django.urls import include, path

from config import accounts, ratelimit_demo, views

site_patterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("patterns/pipelining/", views.pipelining, name="pipelining"),
    path("patterns/scripts/", views.scripts, name="scripts"),
    path("patterns/rate-limiting/", ratelimit_demo.page, name="ratelimit"),
]

urlpatterns = [
    path("", include((site_patterns, "site_config"))),
    path("admin/", admin.site.urls),
    path("accounts/", include((accounts.urlpatterns, "accounts"))),
    path("", include("leaderboard.urls")),
    path("", include("workers.urls_locks")),
    path("realtime/", include("realtime.urls")),
    path("", include("workers.urls")),
    path("", include("shop.urls")),
    path("", include("ops.urls")),
]
