"""The notifications consumer, through Channels' WebsocketCommunicator, on the real channel layer.

Every test talks to the session's private redis-server: the events are real
stream entries, the fan-out goes through channels-redis groups on it.  Tests
are sync functions that run their async scenario with ``async_to_sync`` (so
database lookups made by the consumer run on the test's own thread).
"""

from __future__ import annotations

import asyncio
import json
import time
from importlib import import_module

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from config.routing import websocket_urlpatterns
from realtime import keys, services
from realtime.services import apublish_event
from redis_patterns import event_log
from redis_patterns.scripts import loader
from tests.conftest import command_calls

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 5


def app():
    # The same stack as config.asgi (its validator reads the settings at each handshake).
    from config.asgi import SameOriginValidator

    return SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))


@pytest.fixture(autouse=True)
def _hosts(settings):
    settings.ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]


def new_session() -> str:
    store = import_module(settings.SESSION_ENGINE).SessionStore()  # the site's engine (Redis sessions)
    store.create()
    return store.session_key


def login_cookie(username: str = "alice", **extra) -> tuple[object, str]:
    user = get_user_model().objects.create_user(username, password="pw-123456", **extra)
    client = Client()
    client.force_login(user)
    return user, client.cookies["sessionid"].value


def socket(*, session: str | None = None, last_event_id: str | None = None,
           origin: bytes = b"http://testserver") -> WebsocketCommunicator:
    path = "/ws/notifications/" + (f"?last_event_id={last_event_id}" if last_event_id else "")
    headers = [(b"origin", origin), (b"host", b"testserver")]
    if session:
        headers.append((b"cookie", f"sessionid={session}".encode()))
    return WebsocketCommunicator(app(), path, headers=headers)


async def connect(comm: WebsocketCommunicator) -> dict:
    connected, _ = await comm.connect(timeout=TIMEOUT)
    assert connected
    return await until(comm, "ready")


async def until(comm: WebsocketCommunicator, kind: str) -> dict:
    """The next control message of ``kind``; fails on anything else first."""
    message = await comm.receive_json_from(timeout=TIMEOUT)
    assert message.get("type") == kind, message
    return message


async def events(comm: WebsocketCommunicator, n: int) -> list[dict]:
    out = [await comm.receive_json_from(timeout=TIMEOUT) for _ in range(n)]
    assert all("id" in e for e in out), out
    return out


def test_anonymous_socket_gets_public_events_only():
    async def scenario():
        other = await _new_session()
        comm = socket()
        ready = await connect(comm)
        assert ready["audience"] == "public only" and ready["replayed"] == 0
        await apublish_event(f"session:{other}", "order.status", {"order_id": 1, "status": "processing"})
        await apublish_event("user:1", "order.status", {"order_id": 2, "status": "processing"})
        public_id = await apublish_event("public", "broadcast", {"message": "Flash sale", "level": "sale"})
        (event,) = await events(comm, 1)
        assert event == {"id": public_id, "type": "broadcast", "message": "Flash sale", "level": "sale"}
        assert await comm.receive_nothing(timeout=0.3)
        await comm.disconnect()

    async_to_sync(scenario)()


def test_ready_gives_a_socket_that_saw_nothing_its_position_so_a_reconnect_misses_nothing():
    """A tab that has not received any event yet still has a place to resume from: an event published while
    it is away (Redis restarting, a page change) is replayed when it comes back with that position."""
    async def scenario():
        comm = socket()
        ready = await connect(comm)
        position = ready["last_event_id"]
        assert event_log.is_event_id(position) and ready["replayed"] == 0
        await comm.disconnect()
        missed = await apublish_event("public", "broadcast", {"message": "while you were away", "level": "info"})

        again = socket(last_event_id=position)
        connected, _ = await again.connect(timeout=TIMEOUT)
        assert connected
        (event,) = await events(again, 1)  # replayed before "ready"
        assert event["id"] == missed and event["message"] == "while you were away"
        back = await until(again, "ready")
        assert back["replayed"] == 1 and back["last_event_id"] == missed
        await again.disconnect()

    async_to_sync(scenario)()


def test_a_broadcast_does_not_wait_for_the_sync_thread():
    """Delivery stays on the event loop: a slow sync call elsewhere does not hold a broadcast up.

    Channels' own ``dispatch`` hops to the sync thread (``close_old_connections``)
    before every message, so each socket's copy of a broadcast waited for
    whatever that thread was doing (and on a 1,000-socket broadcast the hops
    themselves were a third of the server's time).  ``NotificationsConsumer``
    dispatches without the hop; with Channels' dispatch this test waits for
    the 2 s call and fails.
    """
    async def scenario():
        comm = socket()
        await connect(comm)
        busy = asyncio.ensure_future(sync_to_async(time.sleep)(2.0))  # the one thread-sensitive sync thread
        await asyncio.sleep(0.1)
        started = time.monotonic()
        public_id = await apublish_event("public", "broadcast", {"message": "now", "level": "info"})
        (event,) = await events(comm, 1)
        took = time.monotonic() - started
        assert event["id"] == public_id
        assert not busy.done() and took < 1.0, f"delivered after {took:.2f} s, behind the sync thread"
        await busy
        await comm.disconnect()

    async_to_sync(scenario)()


async def _new_session() -> str:
    from channels.db import database_sync_to_async

    return await database_sync_to_async(new_session)()


def test_a_session_gets_its_own_order_events_and_never_another_sessions():
    mine, theirs = new_session(), new_session()

    async def scenario():
        me, them = socket(session=mine), socket(session=theirs)
        assert (await connect(me))["audience"] == "this browser session"
        await connect(them)
        my_id = await apublish_event(f"session:{mine}", "order.status", {"order_id": 7, "status": "completed"})
        their_id = await apublish_event(f"session:{theirs}", "order.status", {"order_id": 8, "status": "failed"})
        (got,) = await events(me, 1)
        assert got == {"id": my_id, "type": "order.status", "order_id": 7, "status": "completed"}
        (got,) = await events(them, 1)
        assert got["id"] == their_id and got["order_id"] == 8
        assert await me.receive_nothing(timeout=0.3) and await them.receive_nothing(timeout=0.1)
        await me.disconnect()
        await them.disconnect()

    async_to_sync(scenario)()


def test_a_forged_session_cookie_gives_no_audience():
    async def scenario():
        forged = "a" * 32  # a well-formed key that no session has
        comm = socket(session=forged)
        assert (await connect(comm))["audience"] == "public only"
        await apublish_event(f"session:{forged}", "order.status", {"order_id": 1, "status": "completed"})
        assert await comm.receive_nothing(timeout=0.3)
        await comm.disconnect()

    async_to_sync(scenario)()


def test_a_logged_in_user_gets_their_events_not_another_users():
    alice, alice_cookie = login_cookie("alice")
    bob, _ = login_cookie("bob")

    async def scenario():
        comm = socket(session=alice_cookie)
        assert (await connect(comm))["audience"] == f"user:{alice.pk}"
        await apublish_event(f"user:{bob.pk}", "order.status", {"order_id": 1, "status": "completed"})
        mine = await apublish_event(f"user:{alice.pk}", "order.status", {"order_id": 2, "status": "completed"})
        (got,) = await events(comm, 1)
        assert got["id"] == mine
        assert await comm.receive_nothing(timeout=0.3)
        await comm.disconnect()

    async_to_sync(scenario)()


def test_a_batch_published_at_once_reaches_the_socket_in_order_each_once(raw_redis):
    """``publish_events`` (a worker's batch of order statuses): the live copies of one audience's events go out
    in order, so the socket delivers each once, in stream order, without a catch-up read."""
    alice, alice_cookie = login_cookie("alice")
    bob, _ = login_cookie("bob")
    me, other = f"user:{alice.pk}", f"user:{bob.pk}"
    batch = [(me, "order.status", {"order_id": 1, "status": "processing"}),
             (other, "order.status", {"order_id": 2, "status": "processing"}),
             (me, "order.status", {"order_id": 1, "status": "completed"}),
             ("public", "broadcast", {"message": "Flash sale", "level": "sale"}),
             (me, "order.status", {"order_id": 3, "status": "processing"}),
             (me, "order.status", {"order_id": 3, "status": "failed", "failure_reason": "no items"})]

    async def scenario():
        comm = socket(session=alice_cookie)
        assert (await connect(comm))["audience"] == me
        reads = command_calls(raw_redis, "xrange")
        ids = await sync_to_async(services.publish_events, thread_sensitive=False)(batch)
        got = await events(comm, 5)
        assert command_calls(raw_redis, "xrange") == reads  # each live copy followed its predecessor: no catch-up read
        mine = [ids[i] for i, (audience, _, _) in enumerate(batch) if audience == me]
        assert [e["id"] for e in got if e["type"] == "order.status"] == mine  # in order, none twice
        assert [(e["order_id"], e["status"]) for e in got if e["type"] == "order.status"] == [
            (1, "processing"), (1, "completed"), (3, "processing"), (3, "failed")]
        assert [e["id"] for e in got if e["type"] == "broadcast"] == [ids[3]]
        assert await comm.receive_nothing(timeout=0.3)  # not bob's, no repeats
        await comm.disconnect()

    async_to_sync(scenario)()


def test_subscribe_to_a_board_and_never_to_a_user_or_session():
    victim = new_session()

    async def scenario():
        comm = socket()
        await connect(comm)
        for topic in (f"session:{victim}", "user:1", "public", "leaderboard:a b", "leaderboard:{x}", 42):
            await comm.send_json_to({"action": "subscribe", "topic": topic})
            error = await until(comm, "error")
            assert error["error"] == "bad_topic"
        await comm.send_json_to({"action": "subscribe", "topic": "leaderboard:global"})
        subscribed = await until(comm, "subscribed")
        # group_add is one SUBSCRIBE with the pub/sub layer (ZADD + EXPIRE, 2 round trips, with the core
        # layer), then 1 for the stream tail.
        from django.conf import settings

        expected = 3 if settings.CHANNEL_LAYER == "core" else 2
        assert subscribed["topic"] == "leaderboard:global" and subscribed["redis"]["round_trips"] == expected
        await apublish_event(f"session:{victim}", "order.status", {"order_id": 1, "status": "completed"})
        await apublish_event("leaderboard:weekly", "leaderboard.changed", {"board": "weekly"})
        board_id = await apublish_event("leaderboard:global", "leaderboard.changed", {"board": "global"})
        (got,) = await events(comm, 1)
        assert got["id"] == board_id and got["type"] == "leaderboard.changed"
        assert await comm.receive_nothing(timeout=0.3)
        await comm.send_json_to({"action": "unsubscribe", "topic": "leaderboard:global"})
        await until(comm, "unsubscribed")
        await apublish_event("leaderboard:global", "leaderboard.changed", {"board": "global"})
        assert await comm.receive_nothing(timeout=0.3)
        await comm.disconnect()

    async_to_sync(scenario)()


def test_bad_input_gets_an_error_and_the_socket_stays_open():
    async def scenario():
        comm = socket(last_event_id="not-an-id")
        connected, _ = await comm.connect(timeout=TIMEOUT)
        assert connected
        assert (await until(comm, "error"))["error"] == "bad_last_event_id"
        await until(comm, "ready")
        for frame, code in (("{nope", "bad_json"), ('{"action": "dance"}', "unknown_action"), ("[1, 2]", "unknown_action"),
                            ('{"action": "heartbeat", "page": "no-slash"}', "bad_page"),
                            ("x" * 5000, "bad_frame")):
            await comm.send_to(text_data=frame)
            assert (await until(comm, "error"))["error"] == code
        await comm.send_to(bytes_data=b"\x00")
        assert (await until(comm, "error"))["error"] == "bad_frame"
        future = socket(last_event_id="99999999999999-0")
        connected, _ = await future.connect(timeout=TIMEOUT)
        assert (await until(future, "error"))["error"] == "bad_last_event_id"
        await until(future, "ready")
        public_id = await apublish_event("public", "broadcast", {"message": "still here", "level": "info"})
        assert (await events(future, 1))[0]["id"] == public_id
        await future.disconnect()
        assert (await events(comm, 1))[0]["id"] == public_id
        await comm.disconnect()

    async_to_sync(scenario)()


def test_a_foreign_origin_is_refused():
    async def scenario():
        evil = socket(origin=b"http://evil.example")
        connected, _ = await evil.connect(timeout=TIMEOUT)
        assert not connected
        no_origin = WebsocketCommunicator(app(), "/ws/notifications/")
        connected, _ = await no_origin.connect(timeout=TIMEOUT)
        assert not connected
        good = socket()
        await connect(good)
        await good.disconnect()

    async_to_sync(scenario)()


def test_reconnect_and_replay_gets_every_missed_event_exactly_once_in_order():
    mine = new_session()

    async def scenario():
        comm = socket(session=mine)
        await connect(comm)
        first = await apublish_event(f"session:{mine}", "order.status", {"order_id": 1, "status": "pending"})
        assert (await events(comm, 1))[0]["id"] == first
        await comm.disconnect()  # the tab is closed, the laptop sleeps...

        missed = []
        for i in range(12):
            if i % 3 == 2:
                missed.append(await apublish_event("public", "broadcast", {"message": f"m{i}", "level": "info"}))
            else:
                missed.append(await apublish_event(f"session:{mine}", "order.status",
                                                   {"order_id": 1, "status": f"s{i}"}))
        await apublish_event("session:" + "b" * 32, "order.status", {"order_id": 9, "status": "not yours"})

        back = socket(session=mine, last_event_id=first)
        connected, _ = await back.connect(timeout=TIMEOUT)
        assert connected
        replayed = await events(back, len(missed))
        assert [e["id"] for e in replayed] == missed  # every one, in order
        ready = await until(back, "ready")
        assert ready["replayed"] == len(missed)
        live = await apublish_event(f"session:{mine}", "order.status", {"order_id": 1, "status": "completed"})
        assert (await events(back, 1))[0]["id"] == live
        assert await back.receive_nothing(timeout=0.3)  # nothing twice
        await back.disconnect()

        # Reconnecting with the newest id replays nothing.
        again = socket(session=mine, last_event_id=live)
        connected, _ = await again.connect(timeout=TIMEOUT)
        assert (await until(again, "ready"))["replayed"] == 0
        assert await again.receive_nothing(timeout=0.2)
        await again.disconnect()

    async_to_sync(scenario)()


def test_replay_covers_subscribed_boards_too():
    async def scenario():
        comm = socket()
        await connect(comm)
        since = await apublish_event("public", "broadcast", {"message": "before", "level": "info"})
        await events(comm, 1)
        await comm.disconnect()
        board = [await apublish_event("leaderboard:global", "leaderboard.changed", {"board": "global", "n": i})
                 for i in range(3)]
        back = socket(last_event_id=since)
        await connect(back)
        await back.send_json_to({"action": "subscribe", "topic": "leaderboard:global"})
        assert [e["id"] for e in await events(back, 3)] == board
        assert (await until(back, "subscribed"))["replayed"] == 3
        await back.disconnect()

    async_to_sync(scenario)()


def test_a_lost_live_message_is_filled_from_the_stream_in_order(r):
    """The channel layer is at-most-once: simulate it dropping one message."""
    mine = new_session()

    async def scenario():
        comm = socket(session=mine)
        await connect(comm)
        audience = f"session:{mine}"
        # Stored but never fanned out, as if the layer had dropped it.
        lost_id, _ = event_log.append(r, loader("redis_patterns"), keys.events_stream(audience), "order.status",
                                      json.dumps({"order_id": 3, "status": "processing"}),
                                      maxlen=services.EVENT_MAXLEN, ttl_seconds=60)
        next_id = await apublish_event(audience, "order.status", {"order_id": 3, "status": "completed"})
        got = await events(comm, 2)
        assert [e["id"] for e in got] == [lost_id, next_id]
        assert [e["status"] for e in got] == ["processing", "completed"]
        assert await comm.receive_nothing(timeout=0.3)
        await comm.disconnect()

    async_to_sync(scenario)()


def test_heartbeat_counts_presence_and_catches_up_on_lost_messages(r):
    mine = new_session()

    async def scenario():
        a, b = socket(session=mine), socket()
        await connect(a)
        await connect(b)
        lost_id, _ = event_log.append(r, loader("redis_patterns"), keys.events_stream("public"), "broadcast",
                                      json.dumps({"message": "dropped live", "level": "info"}),
                                      maxlen=services.EVENT_MAXLEN, ttl_seconds=60)
        await a.send_json_to({"action": "heartbeat", "page": "/"})
        (caught,) = await events(a, 1)  # the catch-up read found what the live path never sent
        assert caught["id"] == lost_id
        presence = await until(a, "presence")
        assert presence["online"] == 1 and presence["here"] == 1
        # One round trip each: the socket's slot renewed, the presence script, the pipelined catch-up read.
        assert presence["redis"]["round_trips"] == 3
        await b.send_json_to({"action": "heartbeat", "page": "/other/"})
        await events(b, 1)
        presence = await until(b, "presence")
        assert presence["online"] == 2 and presence["here"] == 1
        await a.send_json_to({"action": "heartbeat", "page": "/"})
        assert (await until(a, "presence"))["online"] == 2  # a heartbeat again: still one member
        await a.disconnect()
        await b.disconnect()

    async_to_sync(scenario)()


def _everything_in(r) -> list[bytes]:
    """Every key name and every stored value on the server, as bytes (to search for a secret)."""
    import redis as redis_py

    raw = redis_py.Redis(connection_pool=redis_py.ConnectionPool(**{**r.connection_pool.connection_kwargs,
                                                                   "decode_responses": False}))
    out: list[bytes] = []
    for name in raw.scan_iter(count=1000):
        out.append(name)
        kind = raw.type(name)
        if kind == b"string":
            out.append(raw.get(name) or b"")
        elif kind == b"list":
            out += raw.lrange(name, 0, -1)
        elif kind == b"set":
            out += raw.smembers(name)
        elif kind == b"zset":
            out += raw.zrange(name, 0, -1)
        elif kind == b"hash":
            for field, value in raw.hgetall(name).items():
                out += [field, value]
        elif kind == b"stream":
            for entry_id, fields in raw.xrange(name):
                out += [entry_id, *fields.keys(), *fields.values()]
    raw.close()
    return out


def test_no_session_key_reaches_redis_in_a_name_or_a_value(r):
    """A session key read from Redis would let anyone read that visitor's orders: only its keyed hash is there."""
    mine = new_session()

    async def scenario():
        comm = socket(session=mine)
        await connect(comm)  # joins the visitor's group, reads its stream
        await comm.send_json_to({"action": "heartbeat", "page": "/"})  # presence
        # what shop.orders does for an order placed by this visitor, with Order.owner unchanged
        await apublish_event(f"session:{mine}", "order.status", {"order_id": 9, "status": "completed"})
        got = await comm.receive_json_from(timeout=TIMEOUT)
        if got.get("type") == "presence":
            got = await comm.receive_json_from(timeout=TIMEOUT)
        assert (got["type"], got["order_id"]) == ("order.status", 9)
        # a message left undelivered in the channel layer (the socket gone) must not carry it either
        await comm.disconnect()
        other = socket(session=mine)
        await connect(other)
        await apublish_event(f"session:{mine}", "order.status", {"order_id": 10, "status": "pending"})
        stored = _everything_in(r)
        await other.disconnect()
        return stored

    stored = async_to_sync(scenario)()
    assert any(b"visitor:" in item or b"rt.visitor." in item for item in stored)
    assert not [item for item in stored if mine.encode() in item]


def test_heartbeats_rejoin_the_groups_before_they_expire(r, settings):
    """channels-redis drops a membership ``group_expiry`` after it was added: a live socket re-adds its own."""
    import copy
    import time

    layers = copy.deepcopy(settings.CHANNEL_LAYERS)
    assert layers["default"]["CONFIG"]["group_expiry"] == 300  # minutes, not channels-redis's default day
    layers["default"]["CONFIG"]["group_expiry"] = 2
    settings.CHANNEL_LAYERS = layers

    def scores() -> list[float]:
        return [score for key in r.scan_iter("t:asgi:group:*") for _, score in r.zrange(key, 0, -1, withscores=True)]

    async def scenario():
        comm = socket()
        await connect(comm)
        joined = scores()
        await comm.send_json_to({"action": "heartbeat", "page": "/"})
        await until(comm, "presence")
        assert scores() == joined  # too early: nothing re-sent
        time.sleep(0.6)  # past group_expiry / 4 (the consumer's own clock, not a wait for a condition)
        await comm.send_json_to({"action": "heartbeat", "page": "/"})
        await until(comm, "presence")
        assert len(scores()) == len(joined) and min(scores()) > max(joined)  # every membership renewed
        await comm.disconnect()

    async_to_sync(scenario)()
