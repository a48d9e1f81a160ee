"""The site shell in a real browser: menus, the broadcast banner, phone widths, busy buttons.

- A navigation menu is a real ``<button aria-expanded>``: it opens, Escape closes it (focus back on
  its button), a click elsewhere closes it, only one is open at a time, ArrowDown enters it.
- The broadcast banner is in the viewport at the bottom of a long page, and still there after a
  reload and in a new browser while it is current.
- At 390 px (a phone) no page the README lists scrolls sideways.
- A demo button whose answer takes more than 300 ms shows that it is working.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def test_a_menu_opens_and_escape_or_a_click_elsewhere_closes_it(page, live_server_url):
    page.goto(live_server_url + "/")
    shop = page.get_by_role("button", name="Shop", exact=True)
    game = page.get_by_role("button", name="Game", exact=True)
    menu = page.locator("#menu-shop")
    expect(shop).to_have_attribute("aria-expanded", "false")
    expect(menu).to_be_hidden()

    shop.click()
    expect(shop).to_have_attribute("aria-expanded", "true")
    expect(menu).to_be_visible()
    expect(menu.get_by_role("link", name="Shop catalog")).to_be_visible()
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(shop).to_have_attribute("aria-expanded", "false")
    expect(shop).to_be_focused()

    shop.click()
    game.click()  # one open at a time
    expect(menu).to_be_hidden()
    expect(page.locator("#menu-game")).to_be_visible()
    page.locator("main h1").click()  # elsewhere
    expect(page.locator("#menu-game")).to_be_hidden()

    shop.focus()
    page.keyboard.press("ArrowDown")  # the keyboard way in
    expect(menu.get_by_role("link").first).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(menu.get_by_role("link").nth(1)).to_be_focused()
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(shop).to_be_focused()


def test_the_broadcast_banner_stays_in_view_and_survives_a_reload(page, browser, live_server_url):
    from realtime.services import publish_event

    call_command("seed_demo", products=5, quiet=True, stdout=open("/dev/null", "w"))  # noqa: SIM115
    page.goto(live_server_url + "/patterns/caching/")
    expect(page.locator("#rt-notifications")).to_have_attribute("data-state", "live", timeout=15_000)
    event_id = publish_event("public", "broadcast", {"message": "Flash sale: 20% off", "level": "sale"})
    bar = page.locator("#rt-broadcast-bar")
    expect(page.locator("#rt-broadcast")).to_have_text("Flash sale: 20% off", timeout=10_000)

    def in_view() -> bool:
        height = page.evaluate("innerHeight")
        assert page.evaluate("document.documentElement.scrollHeight") > 3 * height  # a long page
        page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
        box = bar.bounding_box()
        return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height

    assert in_view()
    page.reload()  # rendered into the page by the server while current
    expect(page.locator("#rt-broadcast")).to_have_text("Flash sale: 20% off")
    expect(bar).to_have_attribute("data-event-id", event_id)
    assert in_view()

    # A visitor who was not there when it was sent sees it too.
    other = browser.new_context(viewport=PHONE).new_page()
    other.goto(live_server_url + "/shop/")
    expect(other.locator("#rt-broadcast")).to_have_text("Flash sale: 20% off")
    other.context.close()

    # Dismissed: gone, and still gone after a reload.
    bar.get_by_role("button", name="Dismiss this announcement").click()
    expect(bar).to_be_hidden()
    page.reload()
    expect(page.locator("#rt-notifications")).to_have_attribute("data-state", "live", timeout=15_000)
    expect(bar).to_be_hidden()


def readme_pages() -> list[str]:
    """Every site path the README names in backquotes (API, socket and POST-only paths left out)."""
    text = (Path(settings.BASE_DIR) / "README.md").read_text()
    paths = sorted(set(re.findall(r"`(/[^`\s]*)`", text)))
    return [p for p in paths if not p.startswith(("/api/", "/ws/", "/admin")) and p != "/accounts/logout/"]


def test_no_page_the_readme_lists_scrolls_sideways_on_a_phone(browser, live_server_url, django_user_model):
    from django.test import Client

    from shop.checkout import cart_add
    from shop.models import Category, Order, OrderItem, Product

    call_command("seed_demo", products=30, quiet=True, stdout=open("/dev/null", "w"))  # noqa: SIM115
    call_command("seed_leaderboard", stdout=open("/dev/null", "w"))  # noqa: SIM115
    staff = django_user_model.objects.create_user("staff", password="pw-staff-123", is_staff=True,
                                                  is_superuser=True)
    client = Client()
    client.force_login(staff)
    product = Product.objects.order_by("id").first()
    order = Order.objects.create(owner=f"user:{staff.pk}", user=staff, total=product.price)
    OrderItem.objects.create(order=order, product=product, quantity=1, unit_price=product.price)
    cart_add(owner=f"user:{staff.pk}", product_id=product.pk, quantity=2)  # a cart with a line
    # The README's placeholders, by the page they appear in.
    known = {"/shop/c/<slug>/": f"/shop/c/{Category.objects.order_by('name').first().slug}/",
             "/shop/products/<id>/": f"/shop/products/{product.pk}/", "/orders/<id>/": f"/orders/{order.pk}/"}

    context = browser.new_context(viewport=PHONE)  # logged in as staff: the staff pages are in the README too
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                          "url": live_server_url}])
    page = context.new_page()
    checked, skipped, wide = [], [], []
    for path in readme_pages():
        url = path.replace("?page=N", "?page=1")
        for placeholder, value in known.items():
            url = url.replace(placeholder, value)
        if "<" in url:
            skipped.append(path)
            continue
        response = page.goto(live_server_url + url)
        assert response is not None and response.status < 400, (url, response and response.status)
        width = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
        checked.append(url)
        if width[0] > width[1]:
            wide.append((url, width))
    context.close()
    assert not wide, f"wider than the phone: {wide}"
    core = {"/", "/shop/", "/cart/", "/orders/", f"/orders/{order.pk}/", "/checkout/", "/leaderboard/",
            "/patterns/caching/", "/realtime/broadcast/", "/workers/streams/", f"/shop/products/{product.pk}/"}
    assert core <= set(checked), (sorted(core - set(checked)), skipped)


WATCH_AND_PRESS_TWICE = """() => {
  // The page is about to navigate away: what it shows meanwhile is logged to sessionStorage.
  const log = [], t0 = performance.now();
  const note = (what) => { if (!log.some((e) => e[0] === what)) { log.push([what, performance.now() - t0]);
                                                                   sessionStorage.setItem("busy-log", JSON.stringify(log)); } };
  new MutationObserver(() => {
    if (document.getElementById("fire").getAttribute("aria-busy") === "true") { note("busy"); }
    if (document.querySelector(".working-note")) { note("working"); }
  }).observe(document.body, {subtree: true, childList: true, attributes: true});
  document.getElementById("fire").click();
  setTimeout(() => document.getElementById("fire").click(), 100);  // a second press on the way
}"""


def test_a_slow_demo_button_says_it_is_working(page, live_server_url):
    page.goto(live_server_url + "/patterns/stampede/")
    held = []  # the POST is held here until the test lets it go: an answer slower than 300 ms, for sure
    page.route("**/patterns/stampede/", lambda route: held.append(route) if route.request.method == "POST"
               else route.continue_())
    page.locator("input[name=requests]").fill("5")
    page.evaluate(WATCH_AND_PRESS_TWICE)
    page.wait_for_timeout(1000)
    assert len(held) == 1  # the second press sent nothing
    held[0].continue_()
    expect(page.locator("#stampede-results")).to_be_visible(timeout=20_000)
    expect(page.locator(".working-note")).to_have_count(0)
    log = dict(json.loads(page.evaluate("sessionStorage.getItem('busy-log')")))
    assert log["busy"] < 100  # at once: the button says it is busy
    assert 300 <= log["working"] < 1000  # and after 300 ms, a spinner and "working…"
