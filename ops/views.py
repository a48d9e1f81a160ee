"""Operations pages: the health check (public) and the staff pages about the running Redis."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from config.redis import redis_health


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
    return render(request, "ops/index.html")
