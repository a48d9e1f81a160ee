"""What a hostile WebSocket client can do to the real server (uvicorn in a thread, or the Procfile's command).

Each limit is asserted through the ASGI server, where the defects lived: a
nested frame that crashed the consumer (no close frame, groups left behind),
frames read whole before the size check, no cap on sockets per client, and
an origin check that ignored scheme and port.
"""

from __future__ import annotations

import json
import time

import pytest
import redis
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as ws_connect

from tests.conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.filterwarnings("ignore:connect\\(\\) must be used as a context manager")]


def open_socket(base: str, origin: str | None = None, **kwargs):
    return ws_connect(base.replace("http://", "ws://") + "/ws/notifications/", origin=origin or base,
                      open_timeout=5, **kwargs)


def read(ws, timeout: float = 5.0) -> dict:
    return json.loads(ws.recv(timeout=timeout))


def ready(base: str, **kwargs):
    ws = open_socket(base, **kwargs)
    assert read(ws)["type"] == "ready"
    return ws


def group_members(raw_redis: redis.Redis) -> int:
    """Channel-layer group memberships stored in Redis (the groups are sorted sets of channel names)."""
    return sum(raw_redis.zcard(k) for k in raw_redis.scan_iter("t:asgi:group:*"))


def closed_code(ws, timeout: float = 10.0) -> int | None:
    """Read until the server closes the socket; its close code (``None``: no close frame at all)."""
    with pytest.raises(ConnectionClosed) as closed:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ws.recv(timeout=timeout)
    return closed.value.rcvd.code if closed.value.rcvd else None


def test_a_deeply_nested_frame_is_an_error_reply_and_the_socket_lives_on(live_server_url, raw_redis):
    sockets = [ready(live_server_url) for _ in range(5)]
    for ws in sockets:
        ws.send("[" * 2000 + "]" * 2000)  # 4,000 characters, within the frame limit
        reply = read(ws)
        assert (reply["type"], reply["error"]) == ("error", "bad_json")
        ws.send(json.dumps({"action": "subscribe", "topic": "leaderboard:reaction"}))
        assert read(ws)["type"] == "subscribed"  # still serving
    assert group_members(raw_redis) == 5 * 2  # public + the board, per socket
    for ws in sockets:
        ws.close()
    # every socket left its groups and gave its slot back: nothing stays for the day-long group expiry
    wait_for(lambda: group_members(raw_redis) == 0 and not list(raw_redis.scan_iter("t:rt:sockets:*")), timeout=10)


def test_a_frame_over_16_kib_is_refused_by_the_server_before_it_is_read(procfile_web):
    base = procfile_web()
    ws = ready(base, max_size=None)
    ws.send("x" * 5000)  # over the consumer's 4,096 characters, under the server's limit: an error reply
    assert read(ws)["error"] == "bad_frame"
    ws.send(json.dumps({"action": "heartbeat", "pad": "x" * 20_000}))
    assert closed_code(ws) == 1009  # "message too big", from uvicorn (--ws-max-size), not the consumer


def test_sockets_per_client_address_are_capped(live_server_url, settings, raw_redis):
    settings.REALTIME_MAX_SOCKETS_PER_CLIENT = 3
    sockets = [ready(live_server_url) for _ in range(3)]
    extra = open_socket(live_server_url)
    reply = read(extra)
    assert (reply["type"], reply["error"]) == ("error", "too_many_sockets")
    assert closed_code(extra) == 1008
    assert raw_redis.zcard(next(raw_redis.scan_iter("t:rt:sockets:*"))) == 3
    sockets.pop().close()  # closing one frees its slot at once
    wait_for(lambda: raw_redis.zcard(next(raw_redis.scan_iter("t:rt:sockets:*"))) == 2, timeout=10)
    sockets.append(ready(live_server_url))
    for ws in sockets:
        ws.close()


def test_a_silent_socket_is_closed_and_its_slot_freed(live_server_url, settings, raw_redis):
    settings.REALTIME_SOCKET_IDLE_SECONDS = 1
    talking, silent = ready(live_server_url), ready(live_server_url)
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:  # one keeps heartbeating, like a browser tab
        talking.send(json.dumps({"action": "heartbeat", "page": "/"}))
        assert read(talking)["type"] == "presence"
        time.sleep(0.3)  # the client's heartbeat interval, not a wait for a condition
    assert closed_code(silent) == 1001
    wait_for(lambda: raw_redis.zcard(next(raw_redis.scan_iter("t:rt:sockets:*"))) == 1, timeout=5)
    talking.close()


@pytest.mark.parametrize("origin", ["http://127.0.0.1:1", "https://127.0.0.1:{port}", "http://localhost:{port}",
                                    "http://evil.example", "null", "file://"])
def test_an_origin_other_than_the_site_itself_is_refused(live_server_url, origin):
    port = live_server_url.rsplit(":", 1)[1]
    with pytest.raises(InvalidStatus) as refused:
        open_socket(live_server_url, origin=origin.format(port=port))
    assert refused.value.response.status_code == 403


def test_the_site_itself_and_a_trusted_origin_are_accepted(live_server_url, settings):
    ready(live_server_url).close()  # Origin http://127.0.0.1:<port>, Host 127.0.0.1:<port>
    settings.CSRF_TRUSTED_ORIGINS = ["https://shop.example"]
    ready(live_server_url, origin="https://shop.example").close()
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")  # behind a TLS proxy
    port = live_server_url.rsplit(":", 1)[1]
    ready(live_server_url, origin=f"https://127.0.0.1:{port}",
          additional_headers={"X-Forwarded-Proto": "https"}).close()
