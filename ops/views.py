"""Operations pages: the staff index, and the public, read-only lab result pages.

The lab pages only read what the last run of each lab wrote under
``var/labs/`` (``ops.labs``); they talk to no server, so they are safe to
show to anyone and the course's self-check can link to them.
"""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from ops import labs


@staff_member_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    """The operations area: what there is to look at, and the labs."""
    return render(request, "ops/index.html", {"labs": labs.LABS.values()})


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
