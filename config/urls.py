"""The site's URLs: each app's own, at the paths DESIGN.md fixes, and a JSON 404 for any other /api/ path."""

from django.contrib import admin
from django.http import HttpRequest, HttpResponseRedirect
from django.templatetags.static import static
from django.urls import include, path, re_path

from config import api


def favicon(request: HttpRequest) -> HttpResponseRedirect:
    """``/favicon.ico`` for clients that ask for it without reading the page's ``<link rel="icon">``."""
    return HttpResponseRedirect(static("site/favicon.svg"))


urlpatterns = [
    path("favicon.ico", favicon),
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
