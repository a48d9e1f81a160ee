from django.urls import path

from lessons import views

app_name = "lessons"

urlpatterns = [
    path("", views.home, name="home"),
    path("patterns/pipelining/", views.pipelining, name="pipelining"),
    path("patterns/scripts/", views.scripts, name="scripts"),
    path("patterns/check-and-set/", views.check_and_set, name="check_and_set"),
    path("patterns/rate-limiting/", views.ratelimit, name="ratelimit"),
    path("course/", views.course_map, name="course"),
    path("self-check/", views.self_check, name="self_check"),
    path("patterns/whats-new/", views.whats_new, name="whats_new"),
]
