"""The course map and the self-check in a real browser at a phone's width: nothing scrolls sideways."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def test_the_course_pages_fit_a_phone(browser, live_server_url, settings, tmp_path):
    # A last run on file, so that the self-check's check lists are on the page too.
    settings.VAR_DIR = str(tmp_path)
    (tmp_path / "labs").mkdir()
    (tmp_path / "labs" / "cluster.json").write_text(json.dumps({
        "lab": "cluster", "started_at": "2026-05-16T10:00:00+00:00", "quick": True,
        "checks": [{"name": "the reshard finishes with 0 errors the client did not handle", "ok": True,
                    "detail": "12,345 MOVED + 678 ASK handled, 0 errors"}]}))
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    for path, heading in (("/course/", "Course map"), ("/self-check/", "Self-check")):
        response = page.goto(live_server_url + path)
        assert response is not None and response.status == 200, path
        expect(page.locator("main h1")).to_have_text(heading)
        width, inner = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
        assert width <= inner, f"{path} is {width} px wide on a {inner} px screen"
    expect(page.locator("#q4")).to_contain_text("12,345 MOVED + 678 ASK handled")

    page.get_by_role("button", name="Course", exact=True).click()  # the menu that leads here
    page.locator("#menu-course").get_by_role("link", name="Course map").click()
    expect(page).to_have_url(live_server_url + "/course/")
    page.locator(".course-toc").get_by_role("link", name="Tiếp theo (Next)").click()
    expect(page.locator("#s16")).to_be_in_viewport()
    context.close()
