"""publish_event: validated, stored in the audience's stream, callable from sync code."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from django.conf import settings

from realtime import audiences, keys, selectors, services
from realtime.services import publish_event
from redis_patterns import event_log


@pytest.mark.parametrize("audience, type_, data", [
    ("user:abc", "order.status", {}),
    ("session:a.b", "order.status", {}),
    ("session:", "order.status", {}),
    ("leaderboard:{slot}", "leaderboard.changed", {}),
    ("leaderboard:*", "leaderboard.changed", {}),
    ("everyone", "broadcast", {}),
    ("public", "chat", {}),
    ("public", "broadcast", {"id": "mine"}),
    ("public", "broadcast", {"type": "x"}),
    ("public", "broadcast", ["not", "a", "dict"]),
    ("public", "broadcast", {"message": ""}),
    ("public", "broadcast", {"message": "x" * 201}),
    ("public", "broadcast", {"message": "hi", "level": "panic"}),
    ("public", "broadcast", {"message": "hi", "duration_s": 5}),
    ("public", "broadcast", {"message": "hi", "duration_s": "600"}),
])
def test_bad_events_are_refused_and_nothing_is_written(raw_redis, audience, type_, data):
    with pytest.raises(ValueError):
        publish_event(audience, type_, data)
    assert raw_redis.dbsize() == 0


def test_publish_stores_the_event_with_a_ttl_and_returns_its_id(raw_redis):
    event_id = publish_event("user:42", "order.status", {"order_id": 5, "status": "processing"})
    stream = keys.events_stream("user:42")
    assert stream == "t:rt:events:{user:42}"
    ((entry_id, fields),) = raw_redis.xrange(stream)
    assert entry_id == event_id and fields["type"] == "order.status"
    assert 0 < raw_redis.ttl(stream) <= services.EVENT_TTL_SECONDS
    events = selectors.recent_events(["user:42", "public"])
    assert events == [{"id": event_id, "type": "order.status", "order_id": 5, "status": "processing",
                       "audience": "user:42"}]


def test_publish_from_another_process(raw_redis):
    """What a stream worker or Celery task does: the management command is a separate process."""
    out = subprocess.run(
        [sys.executable, "manage.py", "publish_event", "public", "broadcast", '{"message": "hi", "level": "info"}'],
        capture_output=True, text=True, check=True, cwd=settings.BASE_DIR, timeout=60,
    ).stdout.strip()
    assert [e[0] for e in raw_redis.xrange(keys.events_stream("public"))] == [out]
    bad = subprocess.run([sys.executable, "manage.py", "publish_event", "user:x", "broadcast", "{}"],
                         capture_output=True, text=True, cwd=settings.BASE_DIR, timeout=60)
    assert bad.returncode != 0 and "bad audience" in bad.stderr


def test_broadcast_validation():
    with pytest.raises(ValueError):
        services.broadcast_announcement(message="  ", level="sale", sent_by="staff")
    with pytest.raises(ValueError):
        services.broadcast_announcement(message="x" * 201, level="sale", sent_by="staff")
    with pytest.raises(ValueError):
        services.broadcast_announcement(message="hi", level="panic", sent_by="staff")


def test_group_names_and_presence_members_never_expose_a_session_key():
    key = "k" * 32
    assert audiences.group_name("leaderboard:global") == "rt.leaderboard.global"
    group = audiences.group_name(f"session:{key}")
    assert key not in group and group.startswith("rt.visitor.") and group == audiences.group_name(f"session:{key}")
    assert key not in keys.events_stream(f"session:{key}") and "{visitor:" in keys.events_stream(f"session:{key}")
    member = audiences.presence_member(f"session:{key}", "chan")
    assert key not in member and member == audiences.redis_name(f"session:{key}")
    # a keyed hash: the same key under another SECRET_KEY gets another name (not a plain digest of the key)
    from django.test import override_settings

    with override_settings(SECRET_KEY="another-secret-" + "x" * 40):
        assert audiences.redis_name(f"session:{key}") != member
    assert audiences.label(f"session:{key}") == "this browser session"
    assert keys.page_room("/a/*?{x}").startswith("page:") and "*" not in keys.page_room("/a/*")


def test_sync_publish_reuses_its_connections(raw_redis):
    """A worker publishing many events must not open a Redis connection per event."""
    publish_event("public", "broadcast", {"message": "warm-up", "level": "info"})
    before = raw_redis.info("stats")["total_connections_received"]
    for i in range(20):
        publish_event("public", "broadcast", {"message": f"m{i}", "level": "info"})
    assert raw_redis.info("stats")["total_connections_received"] - before == 0
    assert raw_redis.xlen(keys.events_stream("public")) == 21


def test_the_current_broadcast_is_the_newest_until_it_expires(raw_redis):
    assert selectors.broadcast_current() is None
    first = publish_event("public", "broadcast", {"message": "Flash sale", "level": "sale"})
    shown = selectors.broadcast_current()
    assert shown["id"] == first and shown["message"] == "Flash sale" and shown["level"] == "sale"
    sent_ms = int(first.split("-")[0])
    assert shown["expires_ms"] == sent_ms + services.BROADCAST_DEFAULT_SECONDS * 1000
    assert selectors.broadcast_current(now_ms=shown["expires_ms"] - 1) is not None
    assert selectors.broadcast_current(now_ms=shown["expires_ms"]) is None  # over: no banner

    # A newer one replaces it, with its own duration; other public events do not hide it.
    second = publish_event("public", "broadcast", {"message": "Closing soon", "duration_s": 60})
    assert selectors.broadcast_current()["id"] == second
    assert selectors.broadcast_current(now_ms=int(second.split("-")[0]) + 61_000) is None


def test_the_banner_is_read_at_most_every_two_seconds_per_process(raw_redis):
    from redis_patterns.tracing import tracing

    publish_event("public", "broadcast", {"message": "hi"})  # forgets this process's memo
    with tracing() as first:
        selectors.broadcast_current()
    with tracing() as second:
        selectors.broadcast_current()
    assert first.round_trip_count == 1 and second.round_trip_count == 0


def test_publish_events_stores_a_batch_in_one_round_trip_each_audience_in_order(raw_redis):
    """What a stream worker does for a batch of orders: every event stored, in the order given, in one
    pipelined round trip (the live fan-out is the send loop's, not this trace's)."""
    from redis_patterns.tracing import tracing

    batch = [("user:7", "order.status", {"order_id": 1, "status": "processing"}),
             ("user:8", "order.status", {"order_id": 2, "status": "processing"}),
             ("user:7", "order.status", {"order_id": 1, "status": "completed"}),
             ("user:8", "order.status", {"order_id": 2, "status": "failed", "failure_reason": "no items"})]
    services.publish_events(batch[:1])  # loads the scripts: the first call of a process is not the point
    raw_redis.delete(keys.events_stream("user:7"))
    with tracing() as trace:
        ids = services.publish_events(batch)
    rows = [[(r["name"], r["key"]) for r in rt.describe()] for rt in trace.round_trips]
    stored = [rt for rt in rows if any(name == "FCALL" for name, _ in rt)]
    assert stored == [[("FCALL", keys.events_stream(a)) for a, _, _ in batch]]  # 4 appends, 1 round trip
    # then the live fan-out (realtime.layers.group_send_many): both audiences' groups asked for live
    # members in one round trip; nobody is listening, so nothing more (channels-redis's group_send
    # would have cost two round trips per audience to learn that)
    fan_out = [[(name, key) for name, key in rt if ":asgi:group:" in key] for rt in rows if rt not in stored]
    group_key = f"{settings.CHANNEL_LAYERS['default']['CONFIG']['prefix']}:group:{{}}".format
    assert [rt for rt in fan_out if rt] == [[("ZCOUNT", group_key(audiences.group_name(a))) for a in ("user:7", "user:8")]]
    assert all(isinstance(i, str) and event_log.is_event_id(i) for i in ids) and len(set(ids)) == 4
    for audience in ("user:7", "user:8"):
        stored = raw_redis.xrange(keys.events_stream(audience))
        mine = [ids[i] for i, (a, _, _) in enumerate(batch) if a == audience]
        assert [entry_id for entry_id, _ in stored] == mine
        assert [json.loads(f["data"])["status"] for _, f in stored] == [
            d["status"] for a, _, d in batch if a == audience]
    assert services.publish_events([]) == []


def test_a_bad_event_in_a_batch_refuses_the_batch_and_notify_many_publishes_the_rest(raw_redis, caplog):
    good = ("user:7", "order.status", {"order_id": 1, "status": "completed"})
    bad = ("user:7", "order.status", {"id": "mine"})
    with pytest.raises(ValueError):
        services.publish_events([good, bad])
    assert raw_redis.dbsize() == 0  # nothing written: the batch is checked before anything is sent
    results = services.notify_many([good, bad, good])
    assert results[1] is None and all(event_log.is_event_id(r) for r in (results[0], results[2]))
    assert raw_redis.xlen(keys.events_stream("user:7")) == 2
    assert "could not notify" in caplog.text


def test_notify_many_never_raises_when_redis_is_gone(raw_redis, redis_server, caplog):
    redis_server.stop()
    events = [("user:7", "order.status", {"order_id": i, "status": "completed"}) for i in range(3)]
    assert services.notify_many(events) == [None, None, None]
    assert caplog.text.count("could not notify") == 3
