from django.urls import path

from workers import views

app_name = "workers"

urlpatterns = [
    path("workers/streams/", views.streams_page, name="streams"),
    path("workers/streams/replay/", views.replay, name="replay"),
    path("patterns/locks/", views.locks_page, name="locks"),
    path("patterns/queues/", views.queues_page, name="queues"),
]
