"""The realtime pages: notifications, staff broadcast, pub/sub vs streams; presence on the home page."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from realtime import keys
from redis_patterns import presence
from redis_patterns.scripts import Scripts

pytestmark = pytest.mark.django_db


def test_notifications_page_gives_an_anonymous_visitor_a_session_and_shows_the_socket(client):
    response = client.get("/realtime/")
    assert response.status_code == 200
    assert client.cookies["sessionid"].value
    html = response.content.decode()
    assert 'id="rt-notifications"' in html and "realtime/notifications.js" in html
    assert "this browser session" in html
    assert response.context["online"] == 0


def test_every_page_has_the_notifications_area(client):
    html = client.get("/patterns/pipelining/").content.decode()
    assert 'id="rt-notifications"' in html and 'id="rt-broadcast"' in html
    assert '<div id="rt-broadcast-bar" class="rt-broadcast" hidden>' in html  # nothing current


def test_a_current_broadcast_is_rendered_at_the_top_of_every_page(client):
    from realtime.services import publish_event

    event_id = publish_event("public", "broadcast", {"message": "Flash <sale>", "level": "sale"})
    html = client.get("/shop/").content.decode()
    bar = html.index('id="rt-broadcast-bar"')
    assert bar < html.index('class="site-header"') < html.index("site-footer")  # before the header, not after the footer
    assert f'data-event-id="{event_id}"' in html and 'data-level="sale"' in html
    assert "Flash &lt;sale&gt;" in html  # escaped


def test_home_shows_the_live_presence_count(client, r):
    presence.heartbeat(r, Scripts("redis_patterns"), [keys.presence_room("site")], "user:1")
    html = client.get("/").content.decode()
    assert '<span class="presence-count" data-presence-online>1</span>' in html
    assert 'href="/realtime/"' in html and 'href="/realtime/pubsub-vs-streams/"' in html


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_user("staff", password="pw-123456", is_staff=True)
    client.force_login(user)
    return client


def test_broadcast_is_staff_only(client, raw_redis):
    assert client.get("/realtime/broadcast/").status_code == 302
    response = client.post("/realtime/broadcast/", {"message": "free stuff", "level": "sale"})
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    user = get_user_model().objects.create_user("plain", password="pw-123456")
    client.force_login(user)
    assert client.post("/realtime/broadcast/", {"message": "free stuff", "level": "sale"}).status_code == 302
    assert raw_redis.xlen(keys.events_stream("public")) == 0


def test_staff_broadcast_is_stored_in_the_public_stream(staff_client, raw_redis):
    response = staff_client.post("/realtime/broadcast/", {"message": "Flash sale: 20% off", "level": "sale",
                                                          "duration_s": "900"})
    assert response.status_code == 200
    ((entry_id, fields),) = raw_redis.xrange(keys.events_stream("public"))
    assert response.context["sent_id"] == entry_id
    assert '"message":"Flash sale: 20% off"' in fields["data"] and '"by":"staff"' in fields["data"]
    assert '"duration_s":900' in fields["data"]


@pytest.mark.parametrize("data", [{"message": "", "level": "sale"}, {"message": "hi", "level": "<script>"},
                                  {"message": "x" * 300, "level": "info"},
                                  {"message": "hi", "level": "info", "duration_s": "7"}])
def test_bad_broadcast_is_a_400_and_sends_nothing(staff_client, raw_redis, data):
    response = staff_client.post("/realtime/broadcast/", data)
    assert response.status_code == 400
    assert raw_redis.xlen(keys.events_stream("public")) == 0


def test_broadcast_needs_csrf(staff_client):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.cookies = staff_client.cookies
    assert strict.post("/realtime/broadcast/", {"message": "hi", "level": "info"}).status_code == 403


def test_pubsub_vs_streams_page_runs_both_demos(client):
    assert client.get("/realtime/pubsub-vs-streams/").status_code == 200
    response = client.post("/realtime/pubsub-vs-streams/", {"total": "10", "offline_from": "3", "offline_to": "6"})
    assert response.status_code == 200
    runs = response.context["runs"]
    assert [run.sharded for run in runs] == [False, True]  # the suite's server is Redis 7+
    for run in runs:
        assert run.pubsub_missed == [3, 4, 5, 6] and run.stream_missed == [] and run.replayed == [3, 4, 5, 6]
    html = response.content.decode()
    assert "SPUBLISH" in html and 'class="pubsub-missed">4<' in html


@pytest.mark.parametrize("data", [{"total": "abc"}, {"total": "1000"}, {"total": "10", "offline_from": "9",
                                                                        "offline_to": "3"}])
def test_pubsub_vs_streams_bad_input_is_a_400(client, data):
    response = client.post("/realtime/pubsub-vs-streams/", data)
    assert response.status_code == 400 and "form_error" in response.context
