"""The Redis users: ``app`` (least privilege; what the whole app connects as), ``admin``, ``default`` off."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys

import pytest
import redis
from redis.exceptions import AuthenticationError, NoPermissionError

from config import acl
from config.keyspace import families
from redis_patterns.servers import RedisServer
from tests.processes import ROOT

pytestmark = pytest.mark.django_db

#: In a learning run (REDIS_ACL_LEARN=1) the app user may do anything, on purpose: nothing to refuse then.
learning = pytest.mark.skipif(os.environ.get("REDIS_ACL_LEARN", "") not in ("", "0"),
                              reason="REDIS_ACL_LEARN: the app user is unrestricted while its rules are learned")


@pytest.fixture
def forget_refusals(raw_redis):
    """These tests are refused on purpose: keep the per-test check (tests/conftest.py) for accidents."""
    yield
    raw_redis.acl_log_reset()


@learning
def test_the_app_connects_as_the_app_user_and_is_refused_what_it_never_needs(raw_redis, forget_refusals):
    from config.redis import get_redis

    r = get_redis()  # the app's own client, as every part of the app has it
    assert r.client_info()["user"] == "app"
    for command in (("FLUSHALL",), ("FLUSHDB",), ("KEYS", "*"), ("CONFIG", "GET", "*"),
                    ("SCRIPT", "FLUSH"), ("FUNCTION", "FLUSH"), ("FUNCTION", "DELETE", "x"), ("SHUTDOWN",),
                    ("ACL", "LIST"), ("MONITOR",), ("CLIENT", "KILL", "ID", "1"), ("SWAPDB", "0", "1")):
        with pytest.raises(NoPermissionError, match="no permissions"):  # the server answers -NOPERM
            r.execute_command(*command)
    with pytest.raises(NoPermissionError):
        r.set("t:not-a-declared-family", "1")  # a key no keys.py declared
    with pytest.raises(NoPermissionError):
        r.publish("t:anything", "hello")  # a channel no keys.py declared
    assert raw_redis.dbsize() == 0  # nothing happened
    for command in (("DEBUG", "SLEEP", "0"), ("SCRIPT", "KILL"), ("FUNCTION", "RESTORE", "x"), ("SORT", "t:cart:x"),
                    ("CLIENT", "PAUSE", "10"), ("MOVE", "t:cart:x", "1"), ("SAVE",), ("REPLICAOF", "NO", "ONE")):
        assert "no permissions" in raw_redis.execute_command("ACL", "DRYRUN", "app", *command), command
    denied = {entry["object"] for entry in raw_redis.acl_log(count=100) if entry["username"] == "app"}
    assert {"flushall", "keys", "t:not-a-declared-family"} <= denied


@learning
def test_every_declared_key_family_is_open_to_the_app_and_nothing_else(raw_redis):
    prefix = os.environ["REDIS_KEY_PREFIX"]
    for family in families():
        sample = f"{prefix}:" + re.sub(r"<[^>]*>", "x", family.pattern)
        command = ("PUBLISH", sample, "m") if family.type == "channel" else ("EXISTS", sample)
        assert raw_redis.execute_command("ACL", "DRYRUN", "app", *command) == "OK", family.pattern
    for stranger in ("t:x", "other:cart:1", "cart:1"):  # outside the prefix, or undeclared
        assert raw_redis.execute_command("ACL", "DRYRUN", "app", "EXISTS", stranger) != "OK"


def test_the_local_redis_refuses_the_default_user_and_knows_app_and_admin(tmp_path):
    """What scripts/run.sh starts: users from ``manage.py redis_acl local``, passwords generated into var/redis/."""
    env = {**os.environ, "REDIS_APP_PASSWORD": "", "REDIS_ADMIN_PASSWORD": ""}
    out = subprocess.run([sys.executable, "manage.py", "redis_acl", "local", "--dir", str(tmp_path)], cwd=ROOT,
                         env=env, capture_output=True, text=True, check=True).stdout.strip()
    users_file = tmp_path / "users.acl"
    assert out == str(users_file)
    passwords = {u: (tmp_path / f"{u}.password").read_text().strip() for u in ("app", "admin")}
    for name in ("app.password", "admin.password", "users.acl"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
    text = users_file.read_text()
    assert passwords["app"] not in text and passwords["admin"] not in text  # hashes only
    assert text.startswith("user default off ")

    server = RedisServer(name="acl-local", config={"aclfile": str(users_file)}).start()
    try:
        with pytest.raises(AuthenticationError):  # NOAUTH: no password, no access
            redis.Redis(port=server.port).ping()
        admin = redis.Redis(port=server.port, username="admin", password=passwords["admin"])
        assert admin.ping() and admin.config_get("maxmemory")  # people and labs: everything
        app = redis.Redis(port=server.port, username="app", password=passwords["app"], decode_responses=True)
        assert app.zadd("t:lb:{reaction}:best", {"ada": 1}) == 1
        with pytest.raises(NoPermissionError):
            app.flushall()
        # the same passwords the next time (files kept), and the same rules from the same registry
        again = subprocess.run([sys.executable, "manage.py", "redis_acl", "local", "--dir", str(tmp_path)], cwd=ROOT,
                               env=env, capture_output=True, text=True, check=True)
        assert again.returncode == 0 and users_file.read_text() == text
    finally:
        server.cleanup()


def test_run_sh_and_compose_use_the_acl_file():
    run_sh = (ROOT / "scripts" / "run.sh").read_text()
    assert "redis_acl local" in run_sh and '--aclfile "$ACL_FILE"' in run_sh
    assert 'REDIS_URL="redis://app:' in run_sh  # every process of the Procfile connects as app
    compose = (ROOT / "compose.yaml").read_text()
    assert '"--aclfile", "/acl/users.acl"' in compose and "redis://app:${REDIS_APP_PASSWORD" in compose


def test_the_command_rules_grant_categories_and_never_the_dangerous(raw_redis):
    rules = acl.command_rules()
    assert rules and all(re.fullmatch(r"[+-]@?[a-z_|-]+", rule) for rule in rules)
    assert "-@dangerous" in rules and "-@admin" in rules and "+@all" not in rules
    line = acl.app_rules("t")
    assert line.index("-@dangerous") < line.index("-flushall")  # the never-granted come last, so they win
    # the generator never grants them, even when the app sent them: it reports them instead
    members = {"string": {"get"}, "keyspace": {"flushall", "del"}, "connection": {"client|setname"},
               "dangerous": {"flushall", "info"}, "admin": set()}
    rules, refused = acl.generate_command_rules({"flushall", "get", "del", "info"}, members)
    assert rules == ["+@string", "+@keyspace", "-@dangerous", "-@admin", "+info"] and refused == {"flushall"}
