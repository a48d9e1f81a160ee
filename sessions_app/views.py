"""Log in and log out (django.contrib.auth), with login attempts rate limited.

Two rules (``RATELIMIT_RULES``): ``login-ip`` bounds how fast one address can
try passwords across accounts, ``login-username`` how fast anyone can try
one account (credential stuffing from many addresses).  Both count every
POST, successful or not, and are decided in one round trip.
"""

from django.contrib.auth import views as auth_views

from config.ratelimit import ratelimit

login = ratelimit("login-ip", "login-username")(
    auth_views.LoginView.as_view(template_name="registration/login.html", redirect_authenticated_user=False)
)
logout = auth_views.LogoutView.as_view(next_page="/")
