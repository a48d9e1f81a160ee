"""Operations pages: the health check (public), the staff pages about the running Redis, and the lab results.

The lab pages only read what the last run of each lab wrote under
``var/labs/`` (``ops.labs``); they talk to no server, so they are safe to
show to anyone and the course's self-check can link to them.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from redis.exceptions import RedisError

from config.keyspace import families
from config.redis import redis_config, redis_health
from ops import audit, labs, metrics, selectors, services


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """``{"redis": "ok", "database": "ok"}``; 503 naming the part that is down (details for staff only)."""
    staff = bool(getattr(request.user, "is_staff", False))
    body: dict[str, str] = {}
    ok, detail = redis_health(timeout=1.0)
    body["redis"] = "ok" if ok else (f"down: {detail}" if staff else "down")
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        body["database"] = "ok"
    except Exception as exc:  # any driver error means "down" here
        body["database"] = f"down: {type(exc).__name__}" if staff else "down"
    status = 200 if all(v == "ok" for v in body.values()) else 503
    return JsonResponse(body, status=status)


@staff_member_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    """The operations area: what there is to look at, and the labs."""
    return render(request, "ops/index.html", {"labs": labs.LABS.values()})


# --- the running Redis: overview, slow log, keyspace, reports, /metrics (issue 13) ---------------------------
# Staff pages that read the app's own Redis through ops.selectors / ops.audit; the one write (provoking slow
# commands) runs on a scratch server (ops.services).  /metrics is for Prometheus: loopback or a token.

REPORT_SAMPLE = 20_000


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """``GET /metrics``: Prometheus text format, for a loopback client or the ``METRICS_TOKEN`` bearer."""
    if not metrics.scrape_allowed(request):
        return HttpResponse("403: /metrics answers loopback clients, or send Authorization: Bearer <METRICS_TOKEN>\n",
                            status=403, content_type="text/plain; charset=utf-8")
    return HttpResponse(metrics.exposition(), content_type=metrics.CONTENT_TYPE)


def _down(request: HttpRequest, template: str, exc: RedisError, context: dict | None = None) -> HttpResponse:
    return render(request, template, {**(context or {}), "error": f"{type(exc).__name__}: {exc}"[:300]}, status=503)


@staff_member_required
@require_GET
def redis_overview(request: HttpRequest) -> HttpResponse:
    """Memory, hit ratio, clients, ops/s, evictions, persistence, replication, ``CONFIG GET maxmemory*``."""
    try:
        data = selectors.overview()
    except RedisError as exc:
        return _down(request, "ops/redis_overview.html", exc)
    return render(request, "ops/redis_overview.html", {"o": data, "bands": selectors.FRAGMENTATION_BANDS})


@staff_member_required
@require_GET
def redis_figures(request: HttpRequest) -> JsonResponse:
    """The overview's live figures (polled every 2 s by the page)."""
    try:
        return JsonResponse(selectors.figures_now())
    except RedisError as exc:
        return JsonResponse({"error": "redis_unavailable", "detail": str(exc)[:200]}, status=503)


@staff_member_required
@require_GET
def redis_slowlog(request: HttpRequest) -> HttpResponse:
    """``SLOWLOG GET``, ``LATENCY LATEST``/``HISTORY``, ``INFO commandstats`` (sortable), the scratch run."""
    sort = request.GET.get("sort", "calls")
    if sort not in selectors.COMMANDSTATS_SORTS:
        sort = "calls"
    context = {"sort": sort, "sorts": selectors.COMMANDSTATS_SORTS, "scratch": selectors.last_scratch_run()}
    try:
        context.update(slowlog=selectors.slowlog(), latency=selectors.latency(),
                       commandstats=selectors.commandstats(sort))
    except RedisError as exc:
        return _down(request, "ops/redis_slowlog.html", exc, context)
    return render(request, "ops/redis_slowlog.html", context)


@staff_member_required
@require_POST
def redis_provoke_slow(request: HttpRequest) -> HttpResponse:
    """Start a scratch server, run slow commands on it, keep its slow log (the app's Redis is not touched)."""
    result = services.scratch_slow_commands()
    messages.info(request, f"Ran {len(result['steps'])} slow commands on a scratch server; "
                  f"its slow log has {len(result['slowlog']['entries'])} entries.")
    return redirect("ops:redis_slowlog")


def _int_param(raw: str | None, default: int, high: int) -> int | None:
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if 0 <= value <= high else None


@staff_member_required
@require_GET
def redis_keyspace(request: HttpRequest) -> HttpResponse:
    """``SCAN`` with cursor pagination, a family or "starts with" filter (``MATCH``) and ``TYPE``."""
    choices = selectors.family_choices()
    by_pattern = {f.pattern: f for f in choices}
    family = by_pattern.get(request.GET.get("family", ""))
    starts = request.GET.get("starts", "")[:200]
    type_ = request.GET.get("type") or None
    cursor = _int_param(request.GET.get("cursor"), 0, 2**64 - 1)
    context = {"families": choices, "family": family, "starts": starts, "type": type_,
               "types": selectors.KEY_TYPES}
    if cursor is None or (type_ and type_ not in selectors.KEY_TYPES) or \
            (request.GET.get("family") and family is None):
        context["error"] = "bad filter: cursor must be a SCAN cursor, type one of the listed, family a declared one"
        return render(request, "ops/redis_keyspace.html", context, status=400)
    if redis_config().mode == "cluster":
        context["error"] = ("On a Redis Cluster every node has its own keyspace: this browser walks one standalone "
                            "or Sentinel-managed server. Use redis-cli --cluster call <node> SCAN ... per node.")
        return render(request, "ops/redis_keyspace.html", context)
    match = selectors.scan_pattern(family=family, starts_with=starts)
    try:
        context["page"] = selectors.keyspace_page(cursor=cursor, match=match, type_=type_)
    except RedisError as exc:
        return _down(request, "ops/redis_keyspace.html", exc, context)
    return render(request, "ops/redis_keyspace.html", context)


@staff_member_required
@require_GET
def redis_key(request: HttpRequest) -> HttpResponse:
    """One key: type, TTL, encoding, memory, family, and a bounded preview of its value."""
    name = request.GET.get("name", "")
    if not name or len(name) > 1024:
        return render(request, "ops/redis_key.html", {"error": "give a key name (?name=...)"}, status=400)
    try:
        detail = selectors.key_detail(name)
    except RedisError as exc:
        return _down(request, "ops/redis_key.html", exc, {"name": name})
    if detail is None:
        return render(request, "ops/redis_key.html", {"name": name, "missing": True}, status=404)
    return render(request, "ops/redis_key.html", {"name": name, "d": detail})


@staff_member_required
@require_GET
def redis_reports(request: HttpRequest) -> HttpResponse:
    """Counts by family, the no-TTL report, type mismatches, undeclared keys and big keys, from one sample."""
    try:
        result = audit.sample_keyspace(REPORT_SAMPLE)
    except RedisError as exc:
        return _down(request, "ops/redis_reports.html", exc)
    counts = sorted(result.by_family.values(), key=lambda c: (-c.keys, c.family.pattern))
    return render(request, "ops/redis_reports.html", {
        "a": result, "counts": counts, "no_ttl": result.no_ttl[:50], "no_ttl_total": len(result.no_ttl),
        "undeclared": result.undeclared[:50], "undeclared_total": len(result.undeclared),
        "wrong_type": result.wrong_type[:50], "big": result.big_keys(20), "limit": REPORT_SAMPLE,
        "family_total": len([f for f in families() if f.type != "channel"]),
    })


@require_GET
def antipatterns(request: HttpRequest) -> HttpResponse:
    """The anti-patterns lab is a lab like the others: its result page is ``/ops/labs/antipatterns/``."""
    return redirect("ops:lab", name="antipatterns")


def _lab_or_404(name: str) -> labs.Lab:
    try:
        return labs.lab(name)
    except KeyError:
        raise Http404(f"no lab named {name!r}") from None


@require_GET
def lab_list(request: HttpRequest) -> HttpResponse:
    """Every lab, with the date and mode of its last run (public, read only)."""
    rows = [{"lab": lab, "result": labs.load_result(lab.name)} for lab in labs.LABS.values()]
    return render(request, "ops/labs.html", {"rows": rows})


@require_GET
def lab_detail(request: HttpRequest, name: str) -> HttpResponse:
    """One lab's last result: its tables, checks, notes and chart, and the command to run it again."""
    lab = _lab_or_404(name)
    result = labs.load_result(name)
    has_chart = bool(result and result.get("chart")) and labs.chart_path(name).is_file()
    return render(request, "ops/lab.html", {"lab": lab, "result": result, "has_chart": has_chart})


@require_GET
def lab_chart(request: HttpRequest, name: str) -> HttpResponse:
    """The last run's SVG chart, served as an image (no script can run in it)."""
    _lab_or_404(name)
    try:
        svg = labs.chart_path(name).read_bytes()
    except OSError:
        raise Http404("this lab has not written a chart yet") from None
    response = HttpResponse(svg, content_type="image/svg+xml")
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-cache"
    return response
