"""The site's URLs: each app's own, at the paths DESIGN.md fixes, and a JSON 404 for any other /api/ path.

The admin's login form is a login path like ``/accounts/login/``: it takes
the same two rate-limit rules, so both share one per-address and one
per-account counter (40 guesses spread over both paths count as 40).
"""

from django.contrib import admin
from django.http import HttpRequest, HttpResponseRedirect
from django.templatetags.static import static
from django.urls import include, path, re_path

from config import api
from config.ratelimit import ratelimit


def favicon(request: HttpRequest) -> HttpResponseRedirect:
    """``/favicon.ico`` for clients that ask for it without reading the page's ``<link rel="icon">``."""
    return HttpResponseRedirect(static("site/favicon.svg"))


urlpatterns = [
    path("favicon.ico", favicon),
    path("", include("lessons.urls")),
    # Before admin.site.urls, so this one wins for the login form.
    path("admin/login/", ratelimit("login-ip", "login-username")(admin.site.login), name="admin-login"),
    path("admin/", admin.site.urls),
    path("", include("sessions_app.urls")),  # /accounts/..., /patterns/sessions/, /api/auth/..., /api/sessions
    path("", include("shop.urls")),
    path("", include("leaderboard.urls")),
    path("realtime/", include("realtime.urls")),
    path("", include("workers.urls")),
    path("", include("ops.urls")),
    re_path(r"^api/", api.not_found),
]

# JSON on /api/, Django's pages elsewhere (DEBUG shows its own debug pages instead).
handler400 = "config.api.bad_request"
handler500 = "config.api.server_error"
