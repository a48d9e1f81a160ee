from django.contrib import admin
from django.urls import include, path

from config import views

site_patterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("patterns/pipelining/", views.pipelining, name="pipelining"),
    path("patterns/scripts/", views.scripts, name="scripts"),
]

urlpatterns = [
    path("", include((site_patterns, "site_config"))),
    path("admin/", admin.site.urls),
    path("", include("shop.urls")),
]
