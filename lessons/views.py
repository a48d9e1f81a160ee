"""The home page and the lesson pages: thin adapters over ``lessons.services``."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods
from redis.exceptions import RedisError

from config.api import visitor
from config.demos import NoScratchServer
from config.redis import cached_redis_health
from lessons import course, selfcheck, services, whatsnew
from lessons.keys import ROUND_TRIP_KEYS
from lessons.usecases import USE_CASES
from redis_patterns.ratelimit import ALGORITHMS
from shop import selectors as shop_selectors


def home(request: HttpRequest) -> HttpResponse:
    # The opening paragraph names what works and what is planned from the same map as the table,
    # so the page cannot claim a feature that has no page yet.
    built = [uc for uc in USE_CASES if uc.url_name]
    planned = [uc for uc in USE_CASES if not uc.url_name]
    return render(request, "lessons/home.html", {"use_cases": USE_CASES, "built": built, "planned": planned})


def pipelining(request: HttpRequest) -> HttpResponse:
    """Read the same keys three ways and show what each cost."""
    context: dict = {"keys": ROUND_TRIP_KEYS}
    if cached_redis_health()[0]:
        try:
            context.update(services.round_trips_compare())
        except RedisError as exc:
            context["error"] = str(exc)
    return render(request, "lessons/pipelining.html", context)


@require_http_methods(["GET", "POST"])
def scripts(request: HttpRequest) -> HttpResponse:
    """Run a script through the loader; optionally make the server forget it first."""
    context: dict = {}
    status = 200
    if cached_redis_health()[0]:
        try:
            if request.method == "POST":
                action = request.POST.get("action")
                if action in {"run", "forget"}:
                    context.update(services.scripts_run(forget=action == "forget"))
                else:
                    context["bad_action"] = True
                    status = 400
            context.update(services.scripts_mode())
        except RedisError as exc:
            context["error"] = str(exc)
        except NoScratchServer as exc:
            context["error"] = f"the forget demo needs a scratch server (set DEMO_SCRATCH_REDIS_URL): {exc}"
            status = 503
    return render(request, "lessons/scripts.html", context, status=status)


@require_http_methods(["GET", "POST"])
def check_and_set(request: HttpRequest) -> HttpResponse:
    """Lua vs WATCH/MULTI/EXEC vs a naive read-then-write, threads racing on one balance."""
    context: dict = {"start": services.CAS_START, "amount": services.CAS_AMOUNT, "threads": services.CAS_THREADS,
                     "tries": services.CAS_TRIES, "expected": services.CAS_START // services.CAS_AMOUNT}
    if request.method == "POST" and cached_redis_health()[0]:
        try:
            context["results"] = [services.check_and_set_race(a) for a in services.CAS_APPROACHES]
        except RedisError as exc:
            context["error"] = str(exc)
    return render(request, "lessons/check_and_set.html", context)


def ratelimit(request: HttpRequest) -> HttpResponse:
    """The five rate-limit algorithms on one request timeline, as a chart."""
    pattern = request.GET.get("pattern", "window-edge")
    if pattern not in services.RL_PATTERNS:
        pattern = "window-edge"
    scale = (services.RL_WIDTH - services.RL_LEFT - services.RL_RIGHT) / services.RL_SPAN
    offsets = services.RL_PATTERNS[pattern][1]
    context: dict = {
        "patterns": {k: v[0] for k, v in services.RL_PATTERNS.items()}, "pattern": pattern,
        "limit": services.RL_LIMIT, "period": services.RL_PERIOD, "width": services.RL_WIDTH, "row": services.RL_ROW,
        "height": services.RL_ROW * len(ALGORITHMS) + 24,
        "edges": [{"x": services.RL_LEFT + k * services.RL_PERIOD * scale, "label": f"{k * services.RL_PERIOD:g} s"}
                  for k in range(int(services.RL_SPAN / services.RL_PERIOD) + 1)],
        "requests": len(offsets), "decisions": len(offsets) * len(ALGORITHMS),
    }
    if cached_redis_health()[0]:
        try:
            context["rows"], context["trace"] = services.ratelimit_timeline(pattern)
        except RedisError as exc:
            context["error"] = str(exc)
    return render(request, "lessons/ratelimit.html", context)


@require_http_methods(["GET", "HEAD"])
def course_map(request: HttpRequest) -> HttpResponse:
    """Every section of the course and where it lives here (``lessons.course``; no Redis command of its own)."""
    return render(request, "lessons/course.html", {"sections": course.sections()})


@require_http_methods(["GET", "HEAD"])
def self_check(request: HttpRequest) -> HttpResponse:
    """The course's ten questions, answered with links; each lab's last result under the answers it backs."""
    summaries: dict[str, dict] = {}
    questions = [{"number": q.number, "vi": q.vi, "en": q.en, "answer": course.prose(q.answer, q.links),
                  "labs": [summaries.setdefault(name, course.lab_summary(name)) for name in q.labs]}
                 for q in selfcheck.QUESTIONS]
    return render(request, "lessons/self_check.html", {"questions": questions})
def whats_new(request: HttpRequest) -> HttpResponse:
    """The server features newer than Redis 7.0 that the site uses, which path runs here, and your cart's expiry."""
    context: dict = {"features": whatsnew.newer_than_baseline(),
                     "older": [f for f in whatsnew.FEATURES if not f.since_baseline], "baseline": whatsnew.BASELINE}
    if cached_redis_health()[0]:
        who = visitor(request)
        try:
            context.update(services.whats_new_status())
            context["cart"] = shop_selectors.cart_expiry(owner=who.owner if who else None)
            context["switches"] = shop_selectors.switches_expiry()
        except RedisError as exc:
            context["error"] = str(exc)
    return render(request, "lessons/whats_new.html", context)
