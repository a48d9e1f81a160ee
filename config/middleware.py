"""Site-wide response middleware: the Redis command trace, and the Content-Security-Policy.

``RedisTraceMiddleware`` (the Django adapter for ``redis_patterns.tracing``):
every response gets a ``Server-Timing`` entry (browsers show it in the
network panel's Timing tab), and every HTML page that extends ``base.html``
gets the "Redis on this page" panel, rendered *after* the view ran so it lists
every command the request caused.

``ContentSecurityPolicyMiddleware``: every response carries
``settings.CONTENT_SECURITY_POLICY`` (scripts from this site only: no inline
script runs, so an HTML-injection bug cannot become script execution).
"""

from __future__ import annotations

import html

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse

from redis_patterns.tracing import Trace, tracing

PANEL_PLACEHOLDER = b"<!--redis-trace-panel-->"

# html.escape: five str.replace passes in C, 4-5x faster on a panel's short strings than one
# str.translate with a mapping (which looks each character up in a dict); the panel escapes 3 per command.
escape = html.escape


def _plural(n: int, word: str) -> str:
    return f"<strong>{n}</strong> {word}{'' if n == 1 else 's'}"


def render_panel(trace: Trace) -> str:
    """The "Redis on this page" panel as HTML.

    Built with plain string formatting rather than a Django template: it runs
    on every HTML response, and a template loop over a few dozen commands cost
    more than the request itself (see bench/tracing_overhead.py).
    """
    out = [
        '<details class="redis-panel" id="redis-panel"><summary>Redis on this page: ',
        _plural(trace.command_count, "command"), ", ", _plural(trace.round_trip_count, "round trip"),
        f", <strong>{trace.duration_ms:.2f} ms</strong></summary>",
    ]
    if trace.round_trips:
        out.append('<table class="trace"><thead><tr><th>#</th><th>command</th><th>key</th><th>args</th>'
                   '<th class="num">µs</th></tr></thead><tbody>')
        for number, rt in enumerate(trace.round_trips, 1):
            rows = rt.describe()
            span = len(rows)
            css = ("pipelined" if rt.pipelined else "") + (" error" if rt.error else "")
            label = f"{number}<br><small>pipeline ×{span}</small>" if rt.pipelined else str(number)
            timing = f"{rt.duration_us:.0f}" + (f"<br><small>{escape(rt.error)}</small>" if rt.error else "")
            for i, row in enumerate(rows):
                cells = (f'<td class="cmd">{escape(row["name"])}</td><td class="key">{escape(row["key"])}</td>'
                         f'<td class="args">{escape(row["args"])}</td>')
                if i == 0:
                    out.append(f'<tr class="{css}"><td rowspan="{span}" class="rt">{label}</td>{cells}'
                               f'<td rowspan="{span}" class="num">{timing}</td></tr>')
                else:
                    out.append(f'<tr class="{css}">{cells}</tr>')
        out.append("</tbody></table>")
        if trace.dropped:
            out.append(f'<p class="muted">… and {trace.dropped} more round trips not listed.</p>')
    else:
        out.append('<p class="muted">This page sent nothing to Redis.</p>')
    out.append('<p class="muted">One row group per network round trip; a pipeline is one round trip. '
               "Time is spent writing, waiting and reading (not building the command).</p></details>")
    return "".join(out)


def _finish(request: HttpRequest, response: HttpResponse, trace: Trace) -> HttpResponse:
    timing = trace.server_timing()
    existing = response.get("Server-Timing")
    response["Server-Timing"] = f"{existing}, {timing}" if existing else timing
    if (
        not getattr(response, "streaming", False)
        and response.get("Content-Type", "").startswith("text/html")
        and PANEL_PLACEHOLDER in response.content
    ):
        panel = render_panel(trace).encode()
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


class ContentSecurityPolicyMiddleware:
    """Add ``Content-Security-Policy: <settings.CONTENT_SECURITY_POLICY>`` to every response that has none."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        from django.conf import settings

        self.get_response = get_response
        self.policy = getattr(settings, "CONTENT_SECURITY_POLICY", "")
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def _add(self, response: HttpResponse) -> HttpResponse:
        if self.policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = self.policy
        return response

    def __call__(self, request: HttpRequest):
        if self.is_async:
            return self.__acall__(request)
        return self._add(self.get_response(request))

    async def __acall__(self, request: HttpRequest):
        return self._add(await self.get_response(request))
