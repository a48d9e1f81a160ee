"""workers/: the queue and lock demo pages, the beat tasks, and task idempotency (run_once)."""

from __future__ import annotations

import json
import threading

import pytest
from django.test import Client
from django.urls import reverse

from redis_patterns.queues import now_ms
from tests.conftest import round_trips
from workers import keys, queues, tasks
from workers.models import FencedWriteAttempt
from workers.queues import AlreadyDone, AlreadyRunning, run_once

pytestmark = pytest.mark.django_db


def _post(client, name, **data):
    return client.post(reverse(f"workers:{name}"), data)


# --- queues page ---------------------------------------------------------------------------------


def test_queues_page_priority_flow(client):
    assert client.get(reverse("workers:queues")).status_code == 200
    for label, prio in (("later", 7), ("now", 0), ("soon", 3)):
        assert _post(client, "queues", action="push_priority", label=label, priority=prio).status_code == 302
    page = client.get(reverse("workers:queues")).content.decode()
    assert page.index(">now<") < page.index(">soon<") < page.index(">later<")
    _post(client, "queues", action="pop_priority")
    assert [p for _, p in queues.demo_queues().priority.peek()] == [3, 7]


@pytest.mark.parametrize("data", [
    {"action": "push_priority", "label": "x", "priority": "10"},
    {"action": "push_priority", "label": "x", "priority": "high"},
    {"action": "push_priority", "label": "", "priority": "1"},
    {"action": "push_priority", "label": "x" * 41, "priority": "1"},
    {"action": "schedule", "label": "x", "delay_s": "0"},
    {"action": "dedup", "job_id": ""},
    {"action": "explode"},
])
def test_queues_page_refuses_bad_input_and_changes_nothing(client, raw_redis, data):
    response = client.post(reverse("workers:queues"), data)
    assert response.status_code == 400
    assert "Refused" in response.content.decode()
    assert [k for k in raw_redis.scan_iter() if not k.startswith("t:rl:")] == []  # only the demo limiter counted


def test_delayed_job_appears_in_ready_when_due(client, r):
    q = queues.demo_queues()
    q.delayed.schedule('{"id":"1","label":"due"}', run_at_ms=now_ms() - 1)
    q.delayed.schedule('{"id":"2","label":"not yet"}', delay_ms=3_600_000)
    page = client.get(reverse("workers:queues")).content.decode()
    assert "1 delayed job became due" in page
    assert [job for job in q.reliable.ready()] == ['{"id":"1","label":"due"}']
    assert len(q.delayed) == 1
    assert 0 < r.pttl(keys.queue_keys(queues.DEMO_QUEUE).ready), "demo keys carry a TTL"


def test_reliable_queue_page_worker_dies_and_reaper_recovers(client, r):
    q = queues.demo_queues()
    _post(client, "queues", action="push_reliable", label="thumbnail-42")
    _post(client, "queues", action="take_die")
    [(job, deadline)] = q.reliable.processing()
    assert q.reliable.ready() == []
    assert "<td>thumbnail-42</td>" in client.get(reverse("workers:queues")).content.decode()
    # The beat task's reaper, with the lease over (controlled clock instead of waiting 10 s).
    assert q.reliable.reap(now=deadline).requeued == 1
    assert 0 < r.pttl(keys.queue_keys(queues.DEMO_QUEUE).ready), "a ready list the reaper recreated has its TTL"
    assert [queues_label(j) for j in q.reliable.ready()] == ["thumbnail-42"]
    _post(client, "queues", action="take_ack")
    assert q.reliable.counts() == (0, 0)


def queues_label(job: str) -> str:
    return json.loads(job)["label"]


def test_dedup_on_the_page(client):
    _post(client, "queues", action="dedup", job_id="order-1")
    _post(client, "queues", action="dedup", job_id="order-1")
    assert [queues_label(j) for j in queues.demo_queues().reliable.ready()] == ["dedup:order-1"]


def test_beat_tasks_promote_and_reap(r):
    q = queues.demo_queues()
    q.delayed.schedule('{"id":"d"}', run_at_ms=now_ms() - 1)
    assert tasks.promote_delayed_jobs() == 1
    job = q.reliable.take(lease_ms=1)
    assert job == '{"id":"d"}'
    r.zadd(keys.queue_keys(queues.DEMO_QUEUE).deadlines, {job: 0})  # its lease is long over
    assert tasks.reap_reliable_queue() == {"requeued": 1, "adopted": 0}


# --- locks page -------------------------------------------------------------------------------------


def test_locks_page_acquire_write_release(client, r):
    assert client.get(reverse("workers:locks")).status_code == 200
    assert _post(client, "locks", action="acquire", ttl_s="30").status_code == 302
    assert r.get(keys.lock_key("demo")) is not None
    _post(client, "locks", action="write")
    assert FencedWriteAttempt.objects.get().accepted is True
    other = Client()
    _post(other, "locks", action="acquire")
    assert "Busy" in other.get(reverse("workers:locks")).content.decode()
    _post(client, "locks", action="release")
    assert r.exists(keys.lock_key("demo")) == 0


def test_locks_page_paused_holder_scenario_shows_the_rejection(client):
    response = _post(client, "locks", action="pause")
    page = response.content.decode()
    steps = page[page.find('id="pause-steps"'):]
    assert "<strong class=\"error\">rejected by the fence</strong>" in steps, steps[:1500]
    attempts = list(FencedWriteAttempt.objects.order_by("id"))
    assert [(a.writer.split()[0], a.accepted) for a in attempts] == [("B", True), ("A", False)]
    assert attempts[0].fence > attempts[1].fence


def test_locks_page_without_a_lease_or_with_bad_input(client):
    assert _post(client, "locks", action="release").status_code == 400
    assert _post(client, "locks", action="acquire", ttl_s="0").status_code == 400
    assert _post(client, "locks", action="nope").status_code == 400


def test_locks_page_fails_closed_when_redis_is_down(client, redis_server):
    from config.redis import forget_redis_health

    redis_server.stop()
    forget_redis_health()
    try:
        response = _post(client, "locks", action="acquire")
        assert response.status_code == 503
        assert "(the lock fails closed: nothing was done)" in response.content.decode()
        assert client.get(reverse("workers:queues")).status_code == 200
    finally:
        redis_server.start()


def test_redlock_section_explains_when_not_configured(client, settings):
    settings.REDLOCK_URLS = []
    assert "Not configured here" in client.get(reverse("workers:locks")).content.decode()


def test_redlock_on_the_page_with_three_servers(client, settings, redis_server_factory):
    servers = [redis_server_factory(name=f"rl-{i}") for i in range(3)]
    servers[0].kill()
    settings.REDLOCK_URLS = [s.url for s in servers]
    page = _post(client, "locks", action="redlock").content.decode()
    assert "Votes: <strong>2</strong> of 3" in page and "acquired, valid for" in page


# --- run_once --------------------------------------------------------------------------------------


def test_run_once_runs_the_body_once_and_skips_later_deliveries(r):
    effects = []
    with run_once("t.task", "k1", lease_s=60):
        effects.append(1)
    with pytest.raises(AlreadyDone):
        with run_once("t.task", "k1", lease_s=60):
            effects.append(2)
    assert effects == [1]
    assert r.hget(keys.task_once_key("t.task", "k1"), "state") == "done"


def test_run_once_concurrent_delivery_waits_and_failure_allows_a_retry(r):
    inside = threading.Event()
    leave = threading.Event()

    def first():
        with run_once("t.task", "k2", lease_s=60):
            inside.set()
            leave.wait(10)

    t = threading.Thread(target=first)
    t.start()
    assert inside.wait(10)
    with pytest.raises(AlreadyRunning) as exc:
        with run_once("t.task", "k2", lease_s=60):
            pass
    assert 1 <= exc.value.retry_in <= 60
    leave.set()
    t.join(10)

    with pytest.raises(RuntimeError):
        with run_once("t.task", "k3"):
            raise RuntimeError("boom")
    ran = []
    with run_once("t.task", "k3"):
        ran.append(True)
    assert ran == [True], "a failed run releases its claim so a retry can do the work"


def test_queues_page_reads_everything_in_one_round_trip(client, refresh_timed_caches):
    client.get(reverse("workers:queues"))  # loads the scripts, opens the connection
    refresh_timed_caches()  # the site's periodic reads (health PING, broadcast banner) are not the page's
    response = client.get(reverse("workers:queues"))
    assert response.status_code == 200
    assert response.wsgi_request.redis_trace.round_trip_count == 1, round_trips(response)


@pytest.mark.browser
def test_queues_page_in_a_browser(page, live_server_url):
    page.goto(live_server_url + "/patterns/queues/")
    for label, priority in (("later", "8"), ("first", "0")):
        page.locator("form:has(button[value=push_priority]) input[name=label]").fill(label)
        page.fill("input[name=priority]", priority)
        page.click("button[value=push_priority]")
    assert page.locator("#priority-jobs tbody tr").all_inner_texts()[0].split() == ["0", "first"]
    page.locator("form:has(button[value=push_reliable]) input[name=label]").fill("crashy job")
    page.click("button[value=push_reliable]")
    page.click("button[value=take_die]")
    assert "died before acking" in page.locator(".messages").inner_text()
    assert "crashy job" in page.locator("#processing-jobs").inner_text()
    for _ in range(2):
        page.locator("input[name=job_id]").fill("receipt-7")
        page.click("button[value=dedup]")
    assert "dropped as a duplicate" in page.locator(".messages").inner_text()
