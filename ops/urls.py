from django.urls import path

from ops import views

app_name = "ops"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("ops/", views.index, name="index"),
    path("ops/labs/", views.lab_list, name="labs"),
    path("ops/labs/<slug:name>/", views.lab_detail, name="lab"),
    path("ops/labs/<slug:name>/chart.svg", views.lab_chart, name="lab_chart"),
]

# --- the running Redis and /metrics (issue 13) -----------------------------------------------------------
urlpatterns += [
    path("metrics", views.metrics_view, name="metrics"),
    path("ops/redis/", views.redis_overview, name="redis_overview"),
    path("ops/redis/figures.json", views.redis_figures, name="redis_figures"),
    path("ops/redis/slowlog/", views.redis_slowlog, name="redis_slowlog"),
    path("ops/redis/slowlog/provoke/", views.redis_provoke_slow, name="redis_provoke_slow"),
    path("ops/redis/keys/", views.redis_keyspace, name="redis_keyspace"),
    path("ops/redis/keys/show/", views.redis_key, name="redis_key"),
    path("ops/redis/reports/", views.redis_reports, name="redis_reports"),
    path("ops/antipatterns/", views.antipatterns, name="antipatterns"),
]
