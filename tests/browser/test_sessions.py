"""Your sessions in a real browser: two browser contexts log in as one user; the second revokes the first,
and the first is logged out on its next page."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

PASSWORD = "correct-horse-battery-9"


def log_in(page, base: str) -> None:
    page.goto(base + "/accounts/login/")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("button", name="log out ada").wait_for()


def test_revoking_a_session_from_another_browser_logs_it_out(browser, live_server_url, django_user_model):
    django_user_model.objects.create_user("ada", password=PASSWORD)
    first_context, second_context = browser.new_context(), browser.new_context()
    try:
        first, second = first_context.new_page(), second_context.new_page()
        log_in(first, live_server_url)
        log_in(second, live_server_url)

        second.goto(live_server_url + "/accounts/sessions/")
        rows = second.locator("#sessions-table tbody tr")
        assert rows.count() == 2
        assert second.locator("tr.current").get_by_text("this browser").is_visible()
        other = second.locator("#sessions-table tbody tr:not(.current)")
        assert "Headless Chrome on Linux" in other.inner_text()
        other.get_by_role("button", name="Revoke").click()
        second.get_by_text("That session was revoked").wait_for()
        assert second.locator("#sessions-table tbody tr").count() == 1

        first.reload()
        first.get_by_role("link", name="log in").wait_for()  # the first browser is anonymous now
        assert first.get_by_role("button", name="log out ada").count() == 0
        first.goto(live_server_url + "/accounts/sessions/")
        assert "/accounts/login/" in first.url  # and its sessions page sends it to log in
        second.reload()
        assert second.get_by_role("button", name="log out ada").is_visible()  # the second is untouched
    finally:
        first_context.close()
        second_context.close()
