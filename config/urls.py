"""The site's URLs: each app's own, at the paths DESIGN.md fixes, and a JSON 404 for any other /api/ path."""

from django.contrib import admin
from django.urls import include, path, re_path

from config import api

urlpatterns = [
    path("", include("lessons.urls")),
    path("admin/", admin.site.urls),
    path("", include("sessions_app.urls")),  # /accounts/..., /patterns/sessions/, /api/auth/..., /api/sessions
    path("", include("shop.urls")),
    path("", include("leaderboard.urls")),
    path("realtime/", include("realtime.urls")),
    path("", include("workers.urls")),
    path("", include("ops.urls")),
    re_path(r"^api/", api.not_found),
]
