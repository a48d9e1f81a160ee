"""Accounts pages: sign up, log in, log out, "Your sessions", and the sessions pattern page.

Login attempts are rate limited by two rules (``RATELIMIT_RULES``):
``login-ip`` bounds how fast one address can try passwords across accounts,
``login-username`` how fast anyone can try one account (credential stuffing
from many addresses); both count every POST, successful or not, and are
decided in one round trip.  Sign-ups are limited per address (``signup``).
The same two login rules guard ``POST /api/auth/token``.

Redis down (sessions live in Redis): pages render for everyone as anonymous;
logging in, signing up and logging out fail closed with a page that says so
(status 503): a login whose session could not be stored, or a logout whose
session could not be deleted, must not look like it worked.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout as django_logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods
from redis.exceptions import RedisError

from config.api import ApiError
from config.ratelimit import ratelimit
from config.redis import cached_redis_health
from redis_patterns.tracing import tracing
from sessions_app import demos, selectors, services
from sessions_app.store import SessionStore as RedisSessionStore

SESSIONS_DOWN = ("Sessions are stored in Redis, which is unavailable right now, so nobody can log in or out "
                 "for the moment. Please try again in a few seconds.")


class LoginView(auth_views.LoginView):
    """Django's login form; the login itself is ``services.account_login`` (new id, stored now, cart adopted)."""

    template_name = "registration/login.html"

    def form_valid(self, form):  # type: ignore[no-untyped-def]
        try:
            services.account_login(self.request, form.get_user())
        except RedisError:
            context = self.get_context_data(form=form, unavailable=SESSIONS_DOWN)
            return self.render_to_response(context, status=503)
        return HttpResponseRedirect(self.get_success_url())


login = ratelimit("login-ip", "login-username")(LoginView.as_view(redirect_authenticated_user=False))


@require_http_methods(["POST"])
def logout(request: HttpRequest) -> HttpResponse:
    """Log out: the session hash is deleted from Redis (and from the user's list) before the redirect."""
    try:
        django_logout(request)
    except RedisError:
        return render(request, "registration/logout_failed.html", {"unavailable": SESSIONS_DOWN}, status=503)
    return redirect("/")


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or "/"
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                       require_https=request.is_secure()):
        return target
    return "/"


@ratelimit("signup")
@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    """Create an account (Django's ``UserCreationForm`` and password validators), then log it in."""
    form = UserCreationForm(request.POST or None)
    context = {"form": form, "next": _next_url(request)}
    if request.method == "POST":
        if not cached_redis_health()[0]:
            # Refuse before creating an account that could not be logged in.
            return render(request, "registration/signup.html", {**context, "unavailable": SESSIONS_DOWN},
                          status=503)
        if form.is_valid():
            user = form.save()
            try:
                services.account_login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            except RedisError:
                messages.error(request, "Your account was created, but logging in failed: " + SESSIONS_DOWN)
                return redirect("accounts:login")
            messages.success(request, f"Welcome, {user.get_username()}: your account is ready.")
            return redirect(context["next"])
    return render(request, "registration/signup.html", context, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def your_sessions(request: HttpRequest) -> HttpResponse:
    """Every active session of the user: device, address, created, last seen; revoke one or all others."""
    session = request.session
    current = session.session_id if isinstance(session, RedisSessionStore) else None
    context: dict = {"enabled": selectors.redis_sessions_enabled(), "current_id": current,
                     "idle_days": settings.SESSION_COOKIE_AGE // 86400}
    if context["enabled"] and request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "revoke":
                services.session_revoke(user_id=request.user.pk, session_id=request.POST.get("id", ""))
                messages.success(request, "That session was revoked: its next request will be anonymous.")
            elif action == "revoke_others":
                n = services.sessions_revoke_others(user_id=request.user.pk, keep_session_id=current)
                messages.success(request, f"Revoked {n} other session{'' if n == 1 else 's'}.")
            else:
                messages.error(request, "Unknown action.")
        except ApiError as exc:
            messages.error(request, exc.detail)
        except RedisError:
            messages.error(request, SESSIONS_DOWN)
        return redirect("accounts:sessions")
    if context["enabled"]:
        try:
            context["sessions"] = selectors.user_sessions(user_id=request.user.pk, current_id=current)
        except RedisError:
            context["error"] = SESSIONS_DOWN
    return render(request, "sessions_app/your_sessions.html", context)


def pattern(request: HttpRequest) -> HttpResponse:
    """The sessions pattern page: the layout, the engines compared live, the code."""
    context: dict = {"backend": settings.SESSION_BACKEND, "current_id": None, "stored": None,
                     "idle_days": settings.SESSION_COOKIE_AGE // 86400, "jwt_ttl": settings.JWT_ACCESS_TTL}
    session = request.session
    if cached_redis_health()[0]:
        try:
            if isinstance(session, RedisSessionStore) and session.session_key:
                context["current_id"] = session.session_id
                context["stored"] = selectors.session_stored(session_id=session.session_id)
            with tracing("engines") as trace:
                context["runs"] = demos.engines_compare()
            context["demo_summary"] = trace.summary()
        except RedisError as exc:
            context["error"] = f"Redis error: {exc}"
    return render(request, "sessions_app/pattern.html", context)


