from django.urls import path

from ops import views

app_name = "ops"

urlpatterns = [
    path("ops/", views.index, name="index"),
    path("ops/labs/", views.lab_list, name="labs"),
    path("ops/labs/<slug:name>/", views.lab_detail, name="lab"),
    path("ops/labs/<slug:name>/chart.svg", views.lab_chart, name="lab_chart"),
]
