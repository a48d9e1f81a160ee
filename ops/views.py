"""Operations pages (staff only)."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET


@staff_member_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    """The operations area: what there is to look at, and the labs."""
    return render(request, "ops/index.html")
