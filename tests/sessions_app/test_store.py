"""The Redis session engine's contract, run twice: through the sync methods and through their async twins.

Everything runs against the session's private redis-server; round trips are
counted with the project's command trace.
"""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import time

import pytest
from asgiref.sync import async_to_sync
from django.contrib.sessions.backends.base import UpdateError

from config.redis import reset_clients
from redis_patterns.tracing import tracing
from sessions_app import keys
from sessions_app.store import ClientInfo, SessionStore, SessionStoreUnavailable

pytestmark = pytest.mark.django_db


def redis_key(session_key: str) -> str:
    return keys.session_key(keys.session_id(session_key))


class SyncCalls:
    """The store's sync methods."""

    @staticmethod
    def load(store: SessionStore) -> dict:
        return store._get_session()

    @staticmethod
    def save(store: SessionStore, **kw) -> None:
        store.save(**kw)

    @staticmethod
    def create(store: SessionStore) -> None:
        store.create()

    @staticmethod
    def delete(store: SessionStore, key: str | None = None) -> None:
        store.delete(key)

    @staticmethod
    def exists(store: SessionStore, key: str) -> bool:
        return store.exists(key)

    @staticmethod
    def cycle(store: SessionStore) -> None:
        store.cycle_key()


class AsyncCalls:
    """The same calls through the async twins, on one event loop per test (its client stays connected)."""

    loop: asyncio.AbstractEventLoop

    @classmethod
    def _run(cls, coro_fn, *args, **kw):
        return cls.loop.run_until_complete(coro_fn(*args, **kw))

    @classmethod
    def load(cls, store: SessionStore) -> dict:
        return cls._run(store._aget_session)

    @classmethod
    def save(cls, store: SessionStore, **kw) -> None:
        cls._run(store.asave, **kw)

    @classmethod
    def create(cls, store: SessionStore) -> None:
        cls._run(store.acreate)

    @classmethod
    def delete(cls, store: SessionStore, key: str | None = None) -> None:
        cls._run(store.adelete, key)

    @classmethod
    def exists(cls, store: SessionStore, key: str) -> bool:
        return cls._run(store.aexists, key)

    @classmethod
    def cycle(cls, store: SessionStore) -> None:
        cls._run(store.acycle_key)


class StoreContract:
    calls: type

    def new(self, data: dict | None = None, **client) -> SessionStore:
        store = SessionStore()
        if client:
            store.client_info = ClientInfo(**client)
        store.update(data or {})
        self.calls.create(store)
        return store

    def test_a_session_is_a_hash_with_json_data_and_the_cookie_age_as_ttl(self, raw_redis, settings):
        store = self.new({"theme": "dark"}, user_agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0", ip="192.0.2.1")
        name = redis_key(store.session_key)
        stored = raw_redis.hgetall(name)
        assert json.loads(stored["data"]) == {"theme": "dark"}
        assert stored["ua"].startswith("Mozilla/5.0") and stored["ip"] == "192.0.2.1" and stored["uid"] == ""
        assert stored["created"] == stored["seen"]
        assert settings.SESSION_COOKIE_AGE * 1000 - 5000 < raw_redis.pttl(name) <= settings.SESSION_COOKIE_AGE * 1000
        assert store.session_key not in name  # the key is a credential: only its hash is a key name

    def test_load_is_one_round_trip_and_save_is_one(self, raw_redis, django_user_model):
        user = django_user_model.objects.create_user("ada", password="pw-ada-12345")
        store = self.new({"_auth_user_id": str(user.pk), "n": 1})
        fresh = SessionStore(store.session_key)
        self.calls.exists(fresh, "warm-up: the connection is open before counting")
        with tracing() as load:
            assert self.calls.load(fresh)["n"] == 1
        fresh["n"] = 2
        with tracing() as save:
            self.calls.save(fresh)
        assert (load.round_trip_count, save.round_trip_count) == (1, 1)
        # the save carried the session, the user's list and the daily-active bit together
        names = {str(c[0]).upper() for rt in save.round_trips for c in rt.commands}
        assert {"ZADD", "SETBIT", "EXPIREAT"} <= names
        assert json.loads(raw_redis.hget(redis_key(store.session_key), "data"))["n"] == 2

    def test_an_unchanged_save_refreshes_seen_and_the_ttl_only(self, raw_redis):
        store = self.new({"n": 1})
        name = redis_key(store.session_key)
        raw_redis.pexpire(name, 60_000)
        raw_redis.hset(name, "seen", "1")
        before = raw_redis.hget(name, "data")
        fresh = SessionStore(store.session_key)
        self.calls.load(fresh)
        self.calls.save(fresh)
        assert raw_redis.pttl(name) > 60_000  # slid forward
        assert int(raw_redis.hget(name, "seen")) > 1
        assert raw_redis.hget(name, "data") == before

    def test_a_request_that_changed_nothing_only_slides_the_expiry(self, raw_redis, django_user_model):
        user = django_user_model.objects.create_user("eve", password="pw-eve-12345")
        store = self.new({"_auth_user_id": str(user.pk)})
        name = redis_key(store.session_key)
        raw_redis.pexpire(name, 60_000)
        seen = raw_redis.hget(name, "seen")
        fresh = SessionStore(store.session_key)
        self.calls.load(fresh)
        with tracing() as save:
            self.calls.save(fresh)
        sent = [str(c[0]).upper() for rt in save.round_trips for c in rt.commands]
        assert save.round_trip_count == 1 and sent[0] == "PEXPIRE" and "FCALL" not in sent and "EVALSHA" not in sent
        assert {"ZADD", "SETBIT"} <= set(sent)
        assert raw_redis.pttl(name) > 60_000 and raw_redis.hget(name, "seen") == seen  # "seen" is per minute

    def test_a_session_deleted_meanwhile_is_not_brought_back(self, raw_redis):
        store = self.new({"n": 1})
        name = redis_key(store.session_key)
        sliding = SessionStore(store.session_key)  # "seen" is recent: the save will be a PEXPIRE
        self.calls.load(sliding)
        raw_redis.hset(name, "seen", "1")
        touching = SessionStore(store.session_key)  # "seen" is old: the save will run the script
        changing = SessionStore(store.session_key)
        self.calls.load(touching)
        self.calls.load(changing)
        raw_redis.delete(name)  # revoked by another device while these requests run
        self.calls.save(sliding)
        self.calls.save(touching)  # refreshes: nothing to keep alive
        assert raw_redis.exists(name) == 0
        changing["n"] = 2
        with pytest.raises(UpdateError):  # Django's contract: the middleware answers "session interrupted"
            self.calls.save(changing)
        assert raw_redis.exists(name) == 0

    def test_cycle_key_gives_a_new_id_and_deletes_the_old_hash_in_the_same_round_trip(self, raw_redis):
        store = self.new({"cart": [1, 2]})
        old = store.session_key
        fresh = SessionStore(old)
        self.calls.cycle(fresh)
        assert fresh.session_key != old and fresh.previous_session_key == old
        with tracing() as save:
            self.calls.save(fresh)
        assert save.round_trip_count == 1
        assert raw_redis.exists(redis_key(old)) == 0
        assert json.loads(raw_redis.hget(redis_key(fresh.session_key), "data")) == {"cart": [1, 2]}

    def test_delete_and_exists(self, raw_redis, django_user_model):
        user = django_user_model.objects.create_user("bob", password="pw-bob-12345")
        store = self.new({"_auth_user_id": str(user.pk)})
        index = keys.user_sessions_key(user.pk)
        assert raw_redis.zcard(index) == 1
        assert self.calls.exists(SessionStore(), store.session_key)
        self.calls.delete(SessionStore(), store.session_key)  # another store object: the owner is read first
        assert not self.calls.exists(SessionStore(), store.session_key)
        assert raw_redis.zcard(index) == 0
        assert not self.calls.exists(SessionStore(), "no-such-session-key")

    def test_a_pickle_planted_in_a_session_is_never_executed(self, raw_redis, tmp_path):
        canary = tmp_path / "canary"

        class Exploit:
            def __reduce__(self):
                return (os.system, (f"touch {canary}",))

        store = self.new({"n": 1})
        raw_redis.hset(redis_key(store.session_key), "data", pickle.dumps(Exploit()))
        fresh = SessionStore(store.session_key)
        assert self.calls.load(fresh) == {}
        assert fresh.session_key is None  # treated as no session
        assert not canary.exists()

    def test_an_expired_session_is_never_listed_and_is_trimmed_by_the_next_save(self, raw_redis, django_user_model):
        from sessions_app.selectors import user_sessions

        user = django_user_model.objects.create_user("cy", password="pw-cy-123456")
        short = SessionStore()
        short.update({"_auth_user_id": str(user.pk)})
        short.set_expiry(1)
        self.calls.create(short)
        lasting = self.new({"_auth_user_id": str(user.pk)})
        assert {s.id for s in user_sessions(user_id=user.pk)} == {short.session_id, lasting.session_id}
        time.sleep(1.1)
        listed = user_sessions(user_id=user.pk)
        assert [s.id for s in listed] == [lasting.session_id]
        index = keys.user_sessions_key(user.pk)
        # Redis expired the hash; the list still holds the id until a save trims it (lazily, never listed)
        assert raw_redis.zscore(index, short.session_id) is not None
        fresh = SessionStore(lasting.session_key)
        self.calls.load(fresh)
        fresh["n"] = 1  # a save that runs the script (a change, a login, or the once-a-minute "seen")
        self.calls.save(fresh)
        assert raw_redis.zrange(index, 0, -1) == [lasting.session_id]

    def test_the_user_list_expires_with_its_newest_session(self, raw_redis, django_user_model):
        user = django_user_model.objects.create_user("di", password="pw-di-123456")
        first = SessionStore()
        first.update({"_auth_user_id": str(user.pk)})
        first.set_expiry(100)
        self.calls.create(first)
        index = keys.user_sessions_key(user.pk)
        assert 90_000 < raw_redis.pttl(index) <= 100_000
        longer = SessionStore()
        longer.update({"_auth_user_id": str(user.pk)})
        longer.set_expiry(500)
        self.calls.create(longer)
        assert 490_000 < raw_redis.pttl(index) <= 500_000  # GT: pushed out to the newest
        shorter = SessionStore()
        shorter.update({"_auth_user_id": str(user.pk)})
        shorter.set_expiry(50)
        self.calls.create(shorter)
        assert raw_redis.pttl(index) > 490_000  # never pulled in


class TestSync(StoreContract):
    calls = SyncCalls


class TestAsync(StoreContract):
    calls = AsyncCalls

    @pytest.fixture(autouse=True)
    def _loop(self):
        AsyncCalls.loop = asyncio.new_event_loop()
        yield
        AsyncCalls.loop.close()
        reset_clients()


def test_async_save_recovers_when_the_server_forgot_the_script(raw_redis):
    store = SessionStore()
    store["n"] = 1
    async_to_sync(store.acreate)()
    raw_redis.script_flush()
    raw_redis.function_flush()
    store["n"] = 2
    async_to_sync(store.asave)()
    reset_clients()
    assert json.loads(raw_redis.hget(redis_key(store.session_key), "data")) == {"n": 2}


def test_redis_down_load_is_anonymous_and_keeps_the_key(redis_server, raw_redis):
    store = SessionStore()
    store["n"] = 1
    store.create()
    redis_server.stop()
    try:
        reset_clients()
        fresh = SessionStore(store.session_key)
        assert fresh._get_session() == {}
        assert fresh.unavailable and fresh.session_key == store.session_key  # the cookie survives the outage
        with pytest.raises(SessionStoreUnavailable):  # never written blind
            fresh.save()
    finally:
        redis_server.start()
        reset_clients()
