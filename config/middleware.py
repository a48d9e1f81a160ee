"""Django adapter for ``redis_patterns.tracing``: one trace per request.

Every response gets a ``Server-Timing`` entry (browsers show it in the
network panel's Timing tab), and every HTML page that extends ``base.html``
gets the "Redis on this page" panel, rendered *after* the view ran so it lists
every command the request caused.
"""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

from redis_patterns.tracing import Trace, tracing

PANEL_PLACEHOLDER = b"<!--redis-trace-panel-->"


def _finish(request: HttpRequest, response: HttpResponse, trace: Trace) -> HttpResponse:
    timing = trace.server_timing()
    existing = response.get("Server-Timing")
    response["Server-Timing"] = f"{existing}, {timing}" if existing else timing
    if (
        not getattr(response, "streaming", False)
        and response.get("Content-Type", "").startswith("text/html")
        and PANEL_PLACEHOLDER in response.content
    ):
        panel = render_to_string("config/_redis_panel.html", {"trace": trace}).encode()
        response.content = response.content.replace(PANEL_PLACEHOLDER, panel, 1)
        if response.has_header("Content-Length"):
            response["Content-Length"] = str(len(response.content))
    return response


class RedisTraceMiddleware:
    """Open a trace for the request; report it on the response."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):
        if self.is_async:
            return self.__acall__(request)
        with tracing(request.path) as trace:
            response = self.get_response(request)
            request.redis_trace = trace
        return _finish(request, response, trace)

    async def __acall__(self, request: HttpRequest):
        with tracing(request.path) as trace:
            response = await self.get_response(request)
            request.redis_trace = trace
        return _finish(request, response, trace)
