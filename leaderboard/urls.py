from django.urls import path

from leaderboard import api, views

app_name = "leaderboard"

urlpatterns = [
    path("leaderboard/", views.game, name="game"),
    path("api/leaderboards/<str:board>/scores", api.submit_score, name="api-scores"),
    path("api/leaderboards/<str:board>/top", api.top, name="api-top"),
    path("api/leaderboards/<str:board>/players/<str:player>", api.player, name="api-player"),
    path("api/leaderboards/<str:board>/friends", api.add_friend, name="api-friends"),
]
