from django.urls import path

from realtime import views

app_name = "realtime"

urlpatterns = [
    path("", views.notifications, name="notifications"),
    path("broadcast/", views.broadcast, name="broadcast"),
    path("pubsub-vs-streams/", views.pubsub_vs_streams_page, name="pubsub_vs_streams"),
]
