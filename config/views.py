"""The site shell: home page, health check, and the foundation's own demos."""

from __future__ import annotations

import logging
import secrets
import time

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods
from redis.exceptions import RedisError, ResponseError

from config.context_processors import cached_redis_health
from config.redis import get_redis, key, redis_health
from redis_patterns import roundtrips
from redis_patterns.scripts import Scripts, loader
from redis_patterns.tracing import tracing

log = logging.getLogger(__name__)

def pattern_scripts() -> Scripts:
    """The shared loader for redis_patterns/lua/*.lua (built on first use, not at import)."""
    return loader("redis_patterns")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF refusals: JSON for the API (as every other API error), Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"error": "csrf_failed", "detail": f"CSRF check failed: {reason}. Send the "
                             "csrftoken cookie's value in the X-CSRFToken header."}, status=403)
    from django.views.csrf import csrf_failure as default

    return default(request, reason=reason)


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "config/home.html")


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """``{"redis": "ok", "database": "ok"}``; 503 naming the part that is down."""
    body: dict[str, str] = {}
    ok, detail = redis_health(timeout=1.0)
    body["redis"] = "ok" if ok else f"down: {detail}"
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        body["database"] = "ok"
    except Exception as exc:  # any driver error means "down" here
        body["database"] = f"down: {type(exc).__name__}"
    status = 200 if all(v == "ok" for v in body.values()) else 503
    return JsonResponse(body, status=status)


# --- round trips ------------------------------------------------------------------------

RT_KEYS = 20


def _rt_keys() -> list[str]:
    # One {hash tag} so MGET works on a Cluster too.
    return [key("{rt}", "item", i) for i in range(RT_KEYS)]


def pipelining(request: HttpRequest) -> HttpResponse:
    """Read the same keys three ways and show what each cost."""
    context: dict = {"keys": RT_KEYS}
    if not cached_redis_health()[0]:
        return render(request, "config/pipelining.html", context)
    client = get_redis()
    keys = _rt_keys()
    try:
        with tracing("seed") as seed:
            roundtrips.write_with_ttl(client, {k: f"value-{i}" for i, k in enumerate(keys)}, ttl_seconds=3600)
        results = []
        for label, fn in (
            ("one by one", roundtrips.read_one_by_one),
            ("pipeline", roundtrips.read_pipelined),
            ("MGET", roundtrips.read_mget),
        ):
            t0 = time.perf_counter_ns()
            with tracing(label) as trace:
                values = fn(client, keys)
            wall_us = (time.perf_counter_ns() - t0) / 1000
            results.append({
                "label": label,
                "function": fn.__name__,
                "commands": trace.command_count,
                "round_trips": trace.round_trip_count,
                "redis_us": trace.duration_ms * 1000,
                "wall_us": wall_us,
                "values_ok": values == [f"value-{i}" for i in range(RT_KEYS)],
            })
        base = results[0]["wall_us"] or 1
        for row in results:
            row["ratio"] = row["wall_us"] / base
        # A fresh connection first says hello (CLIENT SETNAME, SETINFO): show those apart.
        pipelined = [rt for rt in seed.round_trips if rt.pipelined]
        context.update(results=results, seed_commands=sum(len(rt.commands) for rt in pipelined),
                       seed_round_trips=len(pipelined), handshake=seed.round_trip_count - len(pipelined))
    except RedisError as exc:
        context["error"] = str(exc)
    return render(request, "config/pipelining.html", context)


def _as_dict(reply: list | dict) -> dict:
    """A RESP2 flat ``[k1, v1, k2, v2]`` reply (as FUNCTION LIST gives) as a dict."""
    if isinstance(reply, dict):
        return reply
    out = dict(zip(reply[::2], reply[1::2], strict=True))
    if "functions" in out:
        out["functions"] = [_as_dict(f) for f in out["functions"]]
    return out


# --- scripts ------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def scripts(request: HttpRequest) -> HttpResponse:
    """Run a script through the loader; optionally make the server forget it first."""
    loader = pattern_scripts()
    context: dict = {"library": loader.library, "scripts": list(loader.scripts)}
    if not cached_redis_health()[0]:
        return render(request, "config/scripts.html", context)
    client = get_redis()
    demo_key = key("demo", "high-score")
    try:
        if request.method == "POST":
            action = request.POST.get("action")
            if action not in {"run", "forget"}:
                return render(request, "config/scripts.html", {**context, "bad_action": True}, status=400)
            if action == "forget":
                # Only this package's library, or the script cache: what a restart
                # of a server without persistence, or a failover to a replica
                # that never saw SCRIPT LOAD, does to you.
                with tracing("forget") as forget:
                    if loader.mode(client) == "evalsha":
                        client.script_flush()
                    else:
                        try:
                            client.execute_command("FUNCTION", "DELETE", loader.library)
                        except ResponseError:
                            pass  # already gone: nothing to forget
                context["forget"] = forget
            candidate = secrets.randbelow(1000)
            with tracing("call") as call:
                stored, current = loader.call(client, "set_if_higher", keys=[demo_key], args=[candidate, 600_000])
            context.update(call=call, candidate=candidate, stored=bool(stored), current=current)
        context["mode"] = loader.mode(client) or "not decided yet (no call on this process)"
        if loader.mode(client) == "functions":
            context["functions"] = [_as_dict(lib) for lib in client.function_list(library=loader.library)]
    except RedisError as exc:
        context["error"] = str(exc)
    return render(request, "config/scripts.html", context)
