"""Accounts pages (``/accounts/...``), the sessions pattern page and the accounts API (DESIGN.md paths)."""

from django.urls import path

from sessions_app import api, views

app_name = "accounts"

urlpatterns = [
    path("accounts/login/", views.login, name="login"),
    path("accounts/logout/", views.logout, name="logout"),
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/sessions/", views.your_sessions, name="sessions"),
    path("patterns/sessions/", views.pattern, name="pattern"),
    path("api/auth/token", api.token, name="api_token"),
    path("api/auth/revoke", api.revoke, name="api_revoke"),
    path("api/me", api.me, name="api_me"),
    path("api/sessions", api.sessions, name="api_sessions"),
    path("api/sessions/revoke-others", api.revoke_others, name="api_sessions_revoke_others"),
    path("api/sessions/<str:session_id>", api.session_detail, name="api_session"),
]
